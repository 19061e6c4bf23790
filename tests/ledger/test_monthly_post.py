"""The monthly safety report POSTed to the bureau's endpoint: queued on the configured day and hour (site time), sent
signed to a real loopback receiver that fails twice then accepts, across a restart of the hub between the failures
and the success; it arrives once with the month's figures, and a month is never queued or sent twice. A refusal
(4xx) stops the retries until an admin asks again, audited naming the admin."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub
from hub.config import SiteConfig
from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.ledger.monthly_outbox import MonthlyOutbox
from hub.ledger.monthly_post import month_due
from tests.conftest import HubFactory, wait_until
from tests.ledger.people import ledger_config, person
from tests.ledger.test_monthly import EXPECTED, NOW, generate_march

BUREAU_SECRET = "bureau-shared-secret-2026"
RETRY_MAX_S = 600.0


@pytest.fixture
def bureau() -> Iterator[Receiver]:
    running = Receiver(BUREAU_SECRET).start()
    yield running
    running.stop()


def post_config(tmp_path: Path, broker_port: int, url: str) -> dict[str, Any]:
    raw = ledger_config(tmp_path, broker_port)
    # NOW is 3 April 10:00 in Shanghai: the report of March is due from 11:00 that day.
    raw["reports"] = {
        "monthly_delivery": {
            "url": url,
            "secret": BUREAU_SECRET,
            "day_of_month": 3,
            "hour": 11,
            "retry_base_s": 60,
            "retry_max_s": RETRY_MAX_S,
        }
    }
    return raw


def row(hub: Hub, month: str) -> dict[str, Any]:
    posts: MonthlyOutbox = hub.api.state.monthly_posts
    return posts.get(month)


def queued(hub: Hub) -> list[str]:
    return [r[0] for r in hub.store.connection().execute("SELECT month FROM monthly_deliveries ORDER BY month")]


def test_the_month_due_is_the_previous_one_in_site_time() -> None:
    site = SiteConfig(id="s", name="S", address="A", timezone="Asia/Shanghai")
    # 1 January 06:00 in Shanghai is still 31 December in UTC: the month due is December, of the year before.
    assert month_due(site, datetime(2026, 12, 31, 22, 0, tzinfo=UTC), 1, 6) == date(2026, 12, 1)
    assert month_due(site, datetime(2026, 12, 31, 21, 59, tzinfo=UTC), 1, 6) is None  # 05:59 there
    # Later in the month still due (a hub that was down on the day catches up); before the day, not.
    assert month_due(site, datetime(2026, 3, 28, 3, 0, tzinfo=UTC), 5, 0) == date(2026, 2, 1)
    assert month_due(site, datetime(2026, 3, 3, 3, 0, tzinfo=UTC), 5, 0) is None


def test_the_report_arrives_once_signed_after_two_failures_and_a_restart(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, bureau: Receiver
) -> None:
    clock = ManualClock(NOW)
    raw = post_config(tmp_path, broker.port, bureau.url)
    hub = start_hub(raw, api=True, clock=clock)
    generate_march(hub)
    assert hub.monthly_schedule is not None
    assert hub.monthly_sender is not None
    assert hub.monthly_schedule.run_once() is None  # 10:00: not yet
    assert queued(hub) == []

    bureau.state.fail_with = 503
    clock.advance(3600)  # 11:00 site time
    hub.monthly_schedule.run_once()
    assert queued(hub) == ["2026-03"]
    assert bureau.state.wait_for_posts(1, 10)
    assert wait_until(lambda: row(hub, "2026-03")["attempts"] == 1, 10)
    first = row(hub, "2026-03")
    assert first["state"] == "pending"
    assert first["http_status"] == 503
    assert first["next_attempt_at"] > first["last_attempt_at"]  # backing off, in the row

    clock.advance(RETRY_MAX_S)
    hub.monthly_sender.wake()
    assert bureau.state.wait_for_posts(2, 10)
    assert wait_until(lambda: row(hub, "2026-03")["attempts"] == 2, 10)
    before = row(hub, "2026-03")

    # The hub stops mid-retry; the receiver is mended while it is away.
    hub.stop()
    bureau.state.fail_with = None
    again = start_hub(raw, api=True, clock=clock)
    assert again.monthly_schedule is not None
    assert again.monthly_sender is not None
    after = row(again, "2026-03")
    assert (after["state"], after["attempts"], after["next_attempt_at"]) == ("pending", 2, before["next_attempt_at"])
    assert again.monthly_schedule.run_once() is None  # March is queued already

    clock.advance(RETRY_MAX_S)
    again.monthly_sender.wake()
    received = bureau.state.wait_for(1, 10)
    assert len(received) == 1
    assert wait_until(lambda: row(again, "2026-03")["state"] == "delivered", 10)

    arrived = received[0]
    headers = {k.lower(): v for k, v in arrived.headers.items()}
    expected = "sha256=" + hmac.new(BUREAU_SECRET.encode(), arrived.raw, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == expected
    assert headers["idempotency-key"] == "monthly_report:test-school:2026-03"
    body = json.loads(arrived.raw)
    assert (body["event"], body["month"], body["site"]["id"]) == ("monthly_report", "2026-03", "test-school")
    for figure, value in EXPECTED.items():
        assert body["report"][figure] == value, figure
    with person(again, "sun-li") as reader:
        # The same figures as the bureau reads them on the hub.
        shown = reader.get("/api/v1/reports/monthly", params={"month": "2026-03"}).json()
        assert {k: shown[k] for k in EXPECTED} == {k: body["report"][k] for k in EXPECTED}

        status = reader.get("/api/v1/reports/monthly/deliveries/2026-03").json()
        assert (status["state"], status["attempts"], status["receipt"]) == ("delivered", 3, arrived.receipt)
        log = [(a["attempt"], a["outcome"], a["http_status"]) for a in status["attempts_log"]]
        assert log == [(1, "retry", 503), (2, "retry", 503), (3, "delivered", 200)]
        answer = reader.get("/api/v1/reports/monthly/deliveries")
        assert BUREAU_SECRET not in answer.text
        listing = answer.json()
        assert listing["enabled"] is True
        assert (listing["day_of_month"], listing["hour"]) == (3, 11)
        assert [d["month"] for d in listing["deliveries"]] == ["2026-03"]
        metrics = reader.get("/metrics").text
        assert 'campus_hub_monthly_report_deliveries{state="delivered"} 1.0' in metrics
        assert 'campus_hub_monthly_report_deliveries{state="pending"} 0.0' in metrics

    # Never twice: later in April the schedule finds March done; the bureau saw one POST that arrived.
    clock.advance(20 * 86400)
    assert again.monthly_schedule.run_once() is None
    assert queued(again) == ["2026-03"]
    # May's day brings April's report, a month of its own.
    clock.advance((datetime(2026, 5, 3, 3, 0, tzinfo=UTC) - clock.now()).total_seconds())
    again.monthly_schedule.run_once()  # (or the schedule's own look, should its minute come now)
    assert queued(again) == ["2026-03", "2026-04"]
    months = [r.body["month"] for r in bureau.state.wait_for(2, 10)]
    assert months == ["2026-03", "2026-04"]
    assert bureau.state.posts == 4
    assert not any(r.duplicate for r in bureau.state.received)


def test_a_refused_report_waits_for_an_admin(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, bureau: Receiver
) -> None:
    clock = ManualClock(NOW.replace(hour=3))  # 11:00 site time: due at once
    bureau.state.fail_with = 400
    hub = start_hub(post_config(tmp_path, broker.port, bureau.url), api=True, clock=clock)
    assert hub.monthly_schedule is not None
    assert hub.monthly_sender is not None
    hub.monthly_schedule.run_once()  # the schedule's own first look may have queued it already
    assert wait_until(lambda: row(hub, "2026-03")["state"] == "failed", 10)
    refused = row(hub, "2026-03")
    assert (refused["attempts"], refused["http_status"], refused["next_attempt_at"]) == (1, 400, None)

    bureau.state.fail_with = None
    with person(hub, "sun-li") as reader:
        assert reader.post("/api/v1/reports/monthly/deliveries/2026-03/retry").status_code == 403
    with person(hub, "zhao-gang") as guard:
        assert guard.get("/api/v1/reports/monthly/deliveries").status_code == 403
    with person(hub, "wang-fang") as admin:
        answer = admin.post("/api/v1/reports/monthly/deliveries/2026-03/retry")
        assert answer.status_code == 200, answer.text
        again = admin.post("/api/v1/reports/monthly/deliveries/2026-03/retry")
        assert (again.status_code, again.json()["error"]["code"]) == (409, "monthly_delivery_state_conflict")
        assert admin.post("/api/v1/reports/monthly/deliveries/2026-13/retry").status_code == 422
    hub.monthly_sender.wake()
    assert len(bureau.state.wait_for(1, 10)) == 1
    assert wait_until(lambda: row(hub, "2026-03")["state"] == "delivered", 10)
    audit = hub.store.list_audit()
    assert [(a["actor"], a["action"], a["target"]) for a in audit if a["action"] == "monthly_report.retry"] == [
        ("wang-fang", "monthly_report.retry", "monthly_report:2026-03")
    ]
