"""`campus-hub test-mode` against a running hub's API on loopback: start, list, log and end, audited as the token's
holder; refused without a token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.cli import main
from hub.devtools.broker import Mosquitto
from tests.conftest import TOKENS, HubFactory


def test_the_cli_starts_lists_and_ends_test_mode_on_the_running_hub(
    tmp_path: Path,
    broker: Mosquitto,
    start_hub: HubFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hub = start_hub(api=True)
    url = f"http://127.0.0.1:{hub.api_port}"
    monkeypatch.setenv("CAMPUS_HUB_TOKEN", TOKENS["maintenance"])
    argv = ["test-mode", "--url", url]
    assert main([*argv, "start", "--devices", "btn-1,btn-2", "--minutes", "20", "--note", "季度测试"]) == 0
    started = json.loads(capsys.readouterr().out)
    assert (started["devices"], started["note"], started["created_by"]) == (
        ["btn-1", "btn-2"],
        "季度测试",
        "maintenance",
    )
    assert hub.test_mode.on_test("btn-2", hub.clock.now())  # the running hub's own lookup changed
    assert main([*argv, "list"]) == 0
    assert [w["id"] for w in json.loads(capsys.readouterr().out)["test_modes"]] == [started["id"]]
    assert main([*argv, "end", started["id"]]) == 0
    assert json.loads(capsys.readouterr().out)["ended_by"] == "maintenance"
    assert not hub.test_mode.on_test("btn-2", hub.clock.now())
    assert main([*argv, "log"]) == 0
    assert [e["id"] for e in json.loads(capsys.readouterr().out)["entries"]] == [started["id"]]
    # A guard's token may read but not start: the API's refusal is printed and the exit code says so.
    monkeypatch.setenv("CAMPUS_HUB_TOKEN", TOKENS["guard"])
    assert main([*argv, "start", "--site"]) == 1
    assert "HTTP 403" in capsys.readouterr().err
    monkeypatch.delenv("CAMPUS_HUB_TOKEN")
    assert main([*argv, "list"]) == 2
