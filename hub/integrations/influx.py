"""Telemetry to InfluxDB: a sink that writes points in batches and keeps them in SQLite while the server is away.

Off by default; SQLite stays the store of record and alarms never depend on this path. What the points are is
decided in hub/influx_points.py; whether a bucket's retention is long enough by `bucket_retention_ok` (pure).
`InfluxSink` is the thin worker: `offer()` never blocks on the network, a writer thread batches, and while the
server is away points wait in a bounded SQLite spill table (`influx_spill`) and drain oldest first when it is back.

Writes go through influxdb-client's *synchronous* WriteApi on purpose: its default batching WriteApi retries in a
background thread and reports a final failure only to a callback after dropping the batch, so the sink could not
know which points to keep. A synchronous write either returns (written) or raises (the batch is kept).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import httpx
import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.config import InfluxConfig
from hub.core.redact import redact_text
from hub.core.worker import OnError, Worker
from hub.integrations.influx_points import Point
from hub.store import Store

log = logging.getLogger(__name__)

# Answers that mean "this batch will never be accepted" (bad line protocol, field type conflict), not "try later".
REJECTED = frozenset({400, 422})

SPILL_SCHEMA = """
CREATE TABLE IF NOT EXISTS influx_spill (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL);
"""


# --- bucket retention (pure) -----------------------------------------------------------------------------------


def bucket_retention_ok(rule_s: int, days: int) -> bool:
    """Whether a bucket keeping data `rule_s` seconds (0: for ever) keeps it at least `days` days."""
    return rule_s == 0 or rule_s >= days * 86_400


def retention_of(bucket: Mapping[str, Any]) -> int:
    """A bucket's expiry in seconds from its `/api/v2/buckets` JSON (0: no expiry rule, kept for ever)."""
    rules = [r for r in bucket.get("retentionRules") or [] if r.get("type", "expire") == "expire"]
    return min((int(r.get("everySeconds", 0)) for r in rules), default=0) if rules else 0


def has_buckets_api(status: int, content_type: str) -> bool:
    """InfluxDB 2.x answers `/api/v2/buckets` with JSON, errors included; a server without that API does not
    (VictoriaMetrics: 400 with text, most others 404 or 405)."""
    return status < 400 or "json" in content_type.lower()


BucketVerdict = Literal["ok", "created", "no_buckets_api", "refused", "failed"]


def check_bucket(client: httpx.Client, org: str, bucket: str, days: int) -> tuple[BucketVerdict, str]:
    """Make sure `bucket` exists with retention >= `days` (InfluxDB 2.x); a server without the API is accepted."""
    try:
        found = client.get("/api/v2/buckets", params={"name": bucket, "org": org})
        if not has_buckets_api(found.status_code, found.headers.get("content-type", "")):
            return "no_buckets_api", "the server has no buckets API (VictoriaMetrics?): retention is the server's"
        if found.status_code == 404:
            return "refused", f"organisation {org!r} not found: {found.text[:200]}"
        found.raise_for_status()
        buckets = [b for b in found.json().get("buckets", []) if b.get("name") == bucket]
        if buckets:
            rule_s = retention_of(buckets[0])
            if bucket_retention_ok(rule_s, days):
                return "ok", f"bucket {bucket!r} keeps data {rule_s or 'for ever'} s"
            return "refused", (
                f"bucket {bucket!r} keeps data {rule_s} s ({rule_s / 86_400:.1f} days), shorter than retention.days "
                f"= {days}; lengthen its retention rule (or point influx.bucket elsewhere)"
            )
        orgs = client.get("/api/v2/orgs", params={"org": org})
        orgs.raise_for_status()
        matches = [o for o in orgs.json().get("orgs", []) if o.get("name") == org]
        if not matches:
            return "refused", f"organisation {org!r} does not exist on the server"
        body = {
            "orgID": matches[0]["id"],
            "name": bucket,
            "retentionRules": [{"type": "expire", "everySeconds": days * 86_400}],
        }
        client.post("/api/v2/buckets", json=body).raise_for_status()
        return "created", f"bucket {bucket!r} created with {days} days' retention"
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return "failed", redact_text(f"bucket check failed: {type(exc).__name__}: {exc}")


# --- the worker -----------------------------------------------------------------------------------------------


@dataclass
class SinkCounts:
    written: int = 0
    spilled: int = 0
    dropped: int = 0
    spill_depth: int = 0
    failures: int = 0
    state: str = "starting"
    last_error: str | None = None


WriteFn = Callable[[list[str]], None]


class InfluxSink:
    """Batches points to the server in a writer thread; spills to SQLite while it is away. Never blocks ingest."""

    def __init__(
        self,
        config: InfluxConfig,
        store: Store,
        retention_days: int,
        *,
        queue_size: int | None = None,
        write: WriteFn | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._days = retention_days
        self._url = str(config.url).rstrip("/")
        self._token = config.token.get_secret_value() if config.token else ""
        self._queue_size = queue_size or max(10 * config.batch_size, 10_000)
        self._pending: deque[str] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._counts = SinkCounts()
        self._retry_at = 0.0
        self._delay = 0.0
        self._checked = False
        self._refused = False
        # Drains on stop by itself (it ends once what is queued is written or spilled); a crash turns the sink off.
        # A tick waits up to the flush interval, then makes up to three requests.
        self.worker = Worker(
            "influx-writer",
            self._write_once,
            on_error=OnError.DIE,
            on_thread_exit=store.close_thread_connection,
            stuck_after_s=60.0 + config.flush_interval_s + 3 * config.timeout_s,
        )
        self._client: InfluxDBClient | None = None
        self._write_api: Any = None
        self._write = write or self._client_write
        store.ensure_schema(SPILL_SCHEMA)
        self._counts.spill_depth = int(store.connection().execute("SELECT COUNT(*) FROM influx_spill").fetchone()[0])

    # --- public ---------------------------------------------------------------------------------------------

    @property
    def refused(self) -> bool:
        return self._refused

    def counts(self) -> SinkCounts:
        with self._cond:
            return replace(self._counts)

    def offer(self, points: Iterable[Point]) -> None:
        """Queue points for the writer; past the queue's bound they go straight to the spill table. Never waits
        on the network."""
        if self._refused:
            return
        lines = [p.to_line() for p in points]
        if not lines:
            return
        with self._cond:
            room = self._queue_size - len(self._pending)
            self._pending.extend(lines[: max(room, 0)])
            overflow = lines[max(room, 0) :]
            if len(self._pending) >= self._config.batch_size:
                self._cond.notify()
        if overflow:
            self._spill(overflow)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write (or spill) what is queued, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.worker.join(timeout)
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]  # influxdb-client leaves it untyped
            self._client = None

    # --- writer thread ----------------------------------------------------------------------------------------

    def _write_once(self) -> float:
        try:
            if self._write_batch():
                self.worker.finish()
        except Exception:
            # The worker logs it and stops: telemetry stops here (the hub goes on).
            with self._cond:
                self._counts.state = "failed"
            raise
        return 0.0

    def _write_batch(self) -> bool:
        """Write (or spill) one batch; True when the writer is done (stopped and drained, or refused)."""
        batch, stopping = self._take()
        if self._clock() < self._retry_at:
            self._spill(batch)
            return stopping
        try:
            ok = self._check() and self._drain_one() and self._send(batch)
        except sqlite3.Error as exc:  # reading or emptying the spill table; the batch is still in hand
            self._failed(f"spill table: {exc}")
            ok = False
        if self._refused:
            return True  # nothing is written or kept: the sink is off until the bucket is fixed and the hub restarts
        if not ok:
            self._spill(batch)
        return stopping and (not ok or not batch)

    @staticmethod
    def _clock() -> float:
        return time.monotonic()

    def _take(self) -> tuple[list[str], bool]:
        """Up to batch_size lines: at once when that many wait or the spill can drain, else after the interval."""
        size = self._config.batch_size
        with self._cond:
            draining = self._counts.spill_depth > 0 and self._clock() >= self._retry_at and not self._refused
            if not draining:
                deadline = self._clock() + self._config.flush_interval_s
                if self._retry_at > self._clock():
                    deadline = min(deadline, self._retry_at)
                while len(self._pending) < size and not self._stopping:
                    left = deadline - self._clock()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            count = min(size, len(self._pending))
            batch = [self._pending.popleft() for _ in range(count)]
            return batch, self._stopping and not self._pending

    def _check(self) -> bool:
        if self._checked:
            return True
        with httpx.Client(
            base_url=self._url,
            headers={"Authorization": f"Token {self._token}"} if self._token else {},
            timeout=self._config.timeout_s,
        ) as client:
            verdict, message = check_bucket(client, self._config.org, self._config.bucket, self._days)
        if verdict == "failed":
            self._failed(message)
            return False
        if verdict == "refused":
            log.error("influx: refusing to write telemetry: %s", message)
            with self._cond:
                self._refused = True
                self._pending.clear()
                self._counts.state = "refused"
                self._counts.last_error = message
            return False
        log.info("influx: %s", message)
        self._checked = True
        return True

    def _drain_one(self) -> bool:
        """Write the oldest chunk of the spill table; True when it is empty or the chunk went."""
        if self._counts.spill_depth <= 0:
            return True
        rows = (
            self._store.connection()
            .execute("SELECT id, line FROM influx_spill ORDER BY id LIMIT ?", (self._config.batch_size,))
            .fetchall()
        )
        if not rows:
            with self._cond:
                self._counts.spill_depth = 0
            return True
        if not self._send([line for _, line in rows]):
            return False
        with self._store.write() as conn:
            deleted = conn.execute("DELETE FROM influx_spill WHERE id <= ?", (rows[-1][0],)).rowcount
            with self._cond:
                self._counts.spill_depth = max(self._counts.spill_depth - deleted, 0)
        return True

    def _send(self, lines: list[str]) -> bool:
        if not lines:
            return True
        try:
            self._write(lines)
        except ApiException as exc:
            if exc.status in REJECTED:
                # The server read the batch and refused it (a field type conflict, say): sending it again would
                # only block everything behind it, so it is dropped, counted and logged.
                with self._cond:
                    self._counts.dropped += len(lines)
                log.error(
                    "influx: server rejected %d points (HTTP %s): %s", len(lines), exc.status, str(exc.body)[:300]
                )
                return True
            self._failed(f"HTTP {exc.status}: {str(exc.body)[:200]}")
            return False
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            self._failed(redact_text(f"{type(exc).__name__}: {str(exc)[:200]}"))
            return False
        with self._cond:
            self._counts.written += len(lines)
            self._counts.state = "writing"
            self._counts.last_error = None
        self._delay = 0.0
        self._retry_at = 0.0
        return True

    def _failed(self, message: str) -> None:
        self._delay = min(max(self._delay * 2, 0.2), self._config.retry_max_s)
        self._retry_at = self._clock() + self._delay
        with self._cond:
            first = self._counts.state != "backing_off"
            self._counts.failures += 1
            self._counts.state = "backing_off"
            self._counts.last_error = message
        if first:
            log.warning("influx: write failed (%s); spilling to SQLite and retrying", message)

    def _client_write(self, lines: list[str]) -> None:
        if self._client is None:
            self._client = InfluxDBClient(
                url=self._url, token=self._token, org=self._config.org, timeout=int(self._config.timeout_s * 1000)
            )
            self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._write_api.write(self._config.bucket, self._config.org, record=lines, write_precision=WritePrecision.NS)

    def _spill(self, lines: list[str]) -> None:
        """Keep lines in SQLite; past the cap the oldest telemetry goes (it is not life-safety)."""
        if not lines:
            return
        cap = self._config.spill_max_rows
        keep = lines[-cap:]
        try:
            # The depth is kept in memory (a COUNT(*) per spill would scan the table); every change to the table
            # happens inside the store's write lock, and so does the change to the depth.
            with self._store.write() as conn:
                conn.executemany("INSERT INTO influx_spill (line) VALUES (?)", [(line,) for line in keep])
                with self._cond:
                    excess = max(self._counts.spill_depth + len(keep) - cap, 0)
                if excess:
                    conn.execute(
                        "DELETE FROM influx_spill WHERE id IN (SELECT id FROM influx_spill ORDER BY id LIMIT ?)",
                        (excess,),
                    )
                dropped = excess + len(lines) - len(keep)
                with self._cond:
                    self._counts.spilled += len(keep)
                    self._counts.dropped += dropped
                    self._counts.spill_depth += len(keep) - excess
        except sqlite3.Error as exc:
            dropped = len(lines)
            with self._cond:
                self._counts.dropped += dropped
            log.error("influx: could not spill %d points to SQLite (%s); they are dropped", dropped, exc)
            return
        if dropped:
            log.warning("influx: spill table full (%d rows); dropped the %d oldest points", cap, dropped)


class InfluxCollector(Collector):
    """The sink's counters for /metrics."""

    def __init__(self, sink: InfluxSink) -> None:
        self._sink = sink

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        counts = self._sink.counts()
        for name, value, text in (
            ("written", counts.written, "Telemetry points written to InfluxDB."),
            ("spilled", counts.spilled, "Telemetry points put in the SQLite spill table."),
            ("dropped", counts.dropped, "Telemetry points dropped because the spill table was full."),
        ):
            yield CounterMetricFamily(f"campus_hub_influx_points_{name}", text, value=value)
        yield GaugeMetricFamily(
            "campus_hub_influx_spill_depth", "Points waiting in the spill table.", counts.spill_depth
        )
        yield GaugeMetricFamily(
            "campus_hub_influx_refused",
            "1 when the bucket's retention is too short and nothing is written.",
            1 if counts.state == "refused" else 0,
        )
