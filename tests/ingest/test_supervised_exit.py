"""A real hub process whose ingest writer keeps dying exits non-zero (for systemd to restart it), and the hub that
is started next delivers the press that was waiting: nothing the device had handed over is lost.

The writer is made to die through the test-only `CAMPUS_HUB_TEST_FAIL_WORKERS` hook of the worker base (every tick
of the named worker raises before it runs), since no real fault can be provoked from outside a process on demand.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from hub.core.supervisor import EX_SOFTWARE
from hub.core.worker import FAIL_WORKERS_ENV
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from tests.conftest import Publisher, base_config, topic, wait_until
from tests.ingest.test_crash import HubProcess, _rows, _write_config

# Restarts allowed, their back-off, and how long the dying hub may take to give up: the supervisor checks every
# second, so two restarts and the final verdict come within a few seconds of start-up.
MAX_RESTARTS = 2
EXIT_BOUND_S = 30.0


def test_a_writer_that_keeps_dying_exits_the_process_and_the_next_hub_delivers_the_press(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, receiver: Receiver
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    raw["supervision"] = {"max_restarts": MAX_RESTARTS, "restart_backoff_s": 0.1, "window_s": 600}
    path, port = _write_config(tmp_path, raw)
    log_path = tmp_path / "hub.log"
    db = tmp_path / "hub.db"
    started: list[HubProcess] = []
    dying: subprocess.Popen[bytes] | None = None
    try:
        # A first, healthy run creates the hub's persistent session on the broker; it then stops cleanly.
        first = HubProcess(path, port, log_path).start()
        started.append(first)
        assert first.proc is not None
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(15) == 0

        # Pressed while no hub runs: the broker keeps it for the hub's session (the device got its PUBACK).
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})

        with log_path.open("ab") as log:
            dying = subprocess.Popen(
                [sys.executable, "-m", "hub", "run", "--config", str(path)],
                stdout=log,
                stderr=log,
                env={**os.environ, FAIL_WORKERS_ENV: "ingest-writer"},
            )
        assert dying.wait(EXIT_BOUND_S) == EX_SOFTWARE
        text = log_path.read_text()
        assert f"ingest-writer dead after {MAX_RESTARTS} restart(s) within 600 s (limit reached)" in text
        assert f"CRITICAL hub.core.supervisor: supervisor: ingest-writer dead after {MAX_RESTARTS}" in text
        assert _rows(db, "SELECT COUNT(*) FROM alarms") == [(0,)], "the dying hub committed nothing"

        # systemd's restart: the press comes back from the broker and reaches 110, once.
        started.append(HubProcess(path, port, log_path).start())
        assert wait_until(lambda: _rows(db, "SELECT state FROM outbox") == [("delivered",)], 15), _rows(
            db, "SELECT state FROM outbox"
        )
        alarms = _rows(db, "SELECT id, device_id, trigger_count FROM alarms")
        assert [(device, count) for _, device, count in alarms] == [("btn-1", 1)]
        assert receiver.state.unique_alarm_ids() == {alarms[0][0]}
        assert len(receiver.state.received) == 1
    finally:
        if dying is not None and dying.poll() is None:
            dying.kill()
            dying.wait(5)
        for hub in started:
            hub.stop()
