"""Console login, sessions, CSRF, page roles, language and the live feed over plain HTTP against a real hub (real
Mosquitto, real SQLite, real uvicorn on 127.0.0.1); the browser tests are in test_console.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from alerts.duties import DutyType
from alerts.model import AlarmKind, AlarmState, DeliveryState, Disposition
from device_adapters.base import DeviceKind
from hub.app import Hub
from hub.config import Role
from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.health.faults import FaultAction, FaultKind, FaultState
from hub.health.model import DeviceState
from hub.ingest.replay import ReplayMark
from hub.reports import site_days
from hub.store import Store
from hub.web.console import HOME, LOGIN_COOKIE
from hub.web.i18n import LANGS, MESSAGES, catalogue
from hub.web.routes.reports import open_faults_per_day
from hub.web.sessions import SESSION_COOKIE, SessionStore
from hub.web.stream import visible_to
from hub.web.throttle import backoff_s
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until

HUB_DIR = Path(__file__).resolve().parents[2] / "hub" / "web"


def _base(hub: Hub) -> str:
    return f"http://127.0.0.1:{hub.api_port}"


@contextmanager
def login(hub: Hub, role: str) -> Iterator[httpx.Client]:
    """A client that went through the login form like a browser: form token from the page, then the POST."""
    with httpx.Client(base_url=_base(hub), timeout=5) as client:
        page = client.get("/login")
        assert page.status_code == 200
        form_token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert form_token is not None
        answer = client.post("/login", data={"token": TOKENS[role], "csrf_token": form_token.group(1)})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == HOME[Role(role)]
        yield client


def csrf_of(client: httpx.Client, path: str) -> str:
    match = re.search(r'"csrf": "([^"]+)"', client.get(path).text)
    assert match is not None
    return match.group(1)


def audit(hub: Hub) -> list[dict[str, object]]:
    answer = httpx.get(f"{_base(hub)}/api/v1/audit", headers={"Authorization": f"Bearer {TOKENS['admin']}"})
    rows: list[dict[str, object]] = answer.json()["audit"]
    return rows


@pytest.fixture
def hub(start_hub: HubFactory) -> Hub:
    return start_hub(api=True)


def test_login_sets_an_httponly_strict_session_cookie_and_lands_on_the_role_page(hub: Hub) -> None:
    for role in TOKENS:
        with login(hub, role) as client:
            cookie = next(c for c in client.cookies.jar if c.name == SESSION_COOKIE)
            assert cookie.path == "/"
            assert not cookie.secure  # api.secure_cookies defaults to false (plain http on the LAN)
            assert cookie.expires is None  # lasts while the browser runs; the server ends idle sessions
            assert cookie.has_nonstandard_attr("HttpOnly")
            assert str(cookie.get_nonstandard_attr("SameSite")).lower() == "strict"
            # The page carries the role's CSRF token, never the bearer token.
            page = client.get(HOME[role])  # type: ignore[index]
            assert page.status_code == 200
            assert TOKENS[role] not in page.text
            assert page.headers["content-security-policy"].startswith("default-src 'self'")
            me = client.get("/api/v1/session").json()
            assert (me["name"], me["role"]) == (role, role)
            assert me["expires_at"] is not None
    logins = [row for row in audit(hub) if row["action"] == "session.login"]
    assert sorted(str(row["actor"]) for row in logins) == sorted(TOKENS)


def test_secure_cookies_when_configured(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    raw = base_config(tmp_path, broker.port, None)
    raw["api"]["secure_cookies"] = True
    hub = start_hub(raw, api=True)
    with httpx.Client(base_url=_base(hub), timeout=5) as client:
        page = client.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match is not None
        assert "; secure" in page.headers["set-cookie"].lower()
        # A client keeps Secure cookies for https only; this test talks plain http, so it hands it back itself.
        answer = client.post(
            "/login",
            data={"token": TOKENS["guard"], "csrf_token": match.group(1)},
            headers={"Cookie": f"{LOGIN_COOKIE}={match.group(1)}"},
        )
    assert answer.status_code == 303
    (session_cookie,) = [c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)]
    assert "; secure" in session_cookie.lower()
    assert "httponly" in session_cookie.lower()


def test_every_page_checks_the_role(hub: Hub) -> None:
    anonymous = httpx.get(f"{_base(hub)}/", follow_redirects=False)
    assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/login")
    allowed = {
        "guard": {"/"},
        "maintenance": {"/maintenance", "/reports"},
        "bureau": {"/reports"},
        "admin": {"/", "/maintenance", "/reports"},
    }
    for role, pages in allowed.items():
        with login(hub, role) as client:
            for path in ("/", "/maintenance", "/reports"):
                page = client.get(path)
                assert page.status_code == (200 if path in pages else 403), (role, path)
                if path not in pages:
                    assert 'data-testid="forbidden"' in page.text
                    assert 'id="alarms"' not in page.text
                    assert 'data-page="error"' in page.text


def test_a_session_needs_its_csrf_token_for_every_state_change(hub: Hub) -> None:
    with login(hub, "guard") as client:
        csrf = csrf_of(client, "/")
        bare = client.post("/api/v1/alarms/no-such-alarm/ack")
        assert bare.status_code == 403
        assert bare.json()["error"]["code"] == "csrf_failed"
        wrong = client.post("/api/v1/alarms/no-such-alarm/ack", headers={"X-CSRF-Token": "x" + csrf})
        assert wrong.json()["error"]["code"] == "csrf_failed"
        # With the token the request passes authentication and reaches the route.
        right = client.post("/api/v1/alarms/no-such-alarm/ack", headers={"X-CSRF-Token": csrf})
        assert (right.status_code, right.json()["error"]["code"]) == (404, "alarm_not_found")
        # Reads need no token.
        assert client.get("/api/v1/alarms").status_code == 200
    # A bearer token is not a cookie a browser sends by itself: no CSRF token needed.
    bearer = httpx.post(
        f"{_base(hub)}/api/v1/alarms/no-such-alarm/ack", headers={"Authorization": f"Bearer {TOKENS['guard']}"}
    )
    assert bearer.status_code == 404


def test_a_bureau_session_cannot_use_guard_actions(hub: Hub) -> None:
    with login(hub, "bureau") as client:
        csrf = csrf_of(client, "/reports")
        answer = client.post("/api/v1/alarms/no-such-alarm/ack", headers={"X-CSRF-Token": csrf})
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden")
        assert client.get("/api/v1/alarms").json()["error"]["code"] == "forbidden"


def test_logout_needs_the_csrf_field_and_really_revokes(hub: Hub) -> None:
    with login(hub, "maintenance") as client:
        cookie = client.cookies[SESSION_COOKIE]
        csrf = csrf_of(client, "/maintenance")
        forged = client.post("/logout", data={})
        assert (forged.status_code, forged.json()["error"]["code"]) == (403, "csrf_failed")
        assert client.get("/api/v1/devices").status_code == 200
        out = client.post("/logout", data={"csrf_token": csrf})
        assert (out.status_code, out.headers["location"]) == (303, "/login")
    # The old cookie, replayed, no longer works: the row is gone, not just the browser's copy.
    replay = httpx.get(f"{_base(hub)}/api/v1/devices", cookies={SESSION_COOKIE: cookie})
    assert (replay.status_code, replay.json()["error"]["code"]) == (401, "unauthenticated")
    assert any(row["action"] == "session.logout" and row["actor"] == "maintenance" for row in audit(hub))


def test_failed_logins_are_audited_and_backed_off(hub: Hub) -> None:
    def attempt(token: str) -> httpx.Response:
        # A browser of its own each time (a logged-in one would be sent past the login form), same address.
        with httpx.Client(base_url=_base(hub), timeout=5) as browser:
            match = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text)
            assert match is not None  # each login page has a fresh form token (and cookie)
            return browser.post("/login", data={"token": token, "csrf_token": match.group(1)})

    # The admin's tool on this machine has used its token before (it keeps working through the backoff below).
    assert audit(hub) is not None
    with httpx.Client(base_url=_base(hub), timeout=5) as client:
        # The guard room logged in from this address before the guessing started.
        assert attempt(TOKENS["guard"]).status_code == 303
        codes = [attempt("not-a-valid-token").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        # A token that has not proven itself from this address waits out the backoff, unchecked ...
        late = attempt(TOKENS["maintenance"])
        assert late.status_code == 429
        assert int(late.headers["retry-after"]) >= 1
        # ... but the guard room's own token still logs in: guessing from its address does not lock it out.
        assert attempt(TOKENS["guard"]).status_code == 303
        # No form token (a cross-site POST) is refused before the token is even looked at.
        assert client.post("/login", data={"token": TOKENS["guard"]}).status_code in (403, 429)
    failed = [row for row in audit(hub) if row["action"] == "session.login_failed"]
    assert len(failed) == 3
    assert failed[0]["target"] == "127.0.0.1"
    assert backoff_s(2) == 0
    assert backoff_s(3) == 1
    assert backoff_s(100) == 300


def test_sessions_survive_a_restart_and_expire_when_unused(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 1, tzinfo=UTC))
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    sessions = SessionStore(store, clock)
    sessions.open()
    cookie, created = sessions.create("guard_room", "guard")
    store.close_thread_connection()

    reopened = Store(tmp_path / "hub.db", clock)  # a restarted hub on the same file
    again = SessionStore(reopened, clock)
    found = again.lookup(cookie)
    assert found is not None
    assert (found.token_name, found.role, found.csrf) == ("guard_room", "guard", created.csrf)
    clock.advance(11 * 3600)
    assert again.lookup(cookie) is not None  # used within the 12 hours: pushed forward
    clock.advance(11 * 3600)
    assert again.lookup(cookie) is not None
    clock.advance(12 * 3600 + 1)
    assert again.lookup(cookie) is None
    assert again.lookup("never-issued") is None
    reopened.close_thread_connection()


def test_language_defaults_to_chinese_and_switches_by_query_or_cookie(hub: Hub) -> None:
    with httpx.Client(base_url=_base(hub), timeout=5) as client:
        assert MESSAGES["login_title"]["zh"] in client.get("/login").text
        english = client.get("/login?lang=en")
        assert MESSAGES["login_token"]["en"] in english.text
        assert client.cookies["lang"] == "en"
        assert MESSAGES["login_token"]["en"] in client.get("/login").text  # remembered
        assert '"lang": "en"' in client.get("/login").text  # the script gets the same language


def test_every_message_has_both_languages_and_every_used_key_exists() -> None:
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGS), key
        assert all(texts[lang].strip() for lang in LANGS), key
        # Placeholders must match, or one language would show a raw {name}.
        assert set(re.findall(r"{\w+}", texts["zh"])) == set(re.findall(r"{\w+}", texts["en"])), key
    used: set[str] = set()
    for template in (HUB_DIR / "templates").glob("*.html"):
        used |= set(re.findall(r"\bt\.(\w+)", template.read_text(encoding="utf-8")))
    scripts = sorted((HUB_DIR / "static").glob("*.js"))
    assert [s.name for s in scripts] == [
        "console.js",
        "guard.js",
        "inspect.js",
        "ledger.js",
        "maintenance.js",
        "reports.js",
    ]
    for script in scripts:
        used |= set(re.findall(r'\bt\("(\w+)"[,)]', script.read_text(encoding="utf-8")))
    used |= {f"nav_{page}" for page in ("guard", "maintenance", "reports", "ledger", "inspect")}
    used |= {f"sound_{state}" for state in ("on", "off", "blocked")}
    used |= {"duty_met", "duty_met_late", "login_bad_token", "login_wait", "login_form_expired"}
    used |= {f"report_record_{duty}" for duty in DutyType}
    # The labels the script builds from values: every value of each enum has one.
    for prefix, values in (
        ("alarm_kind_", AlarmKind),
        ("alarm_state_", AlarmState),
        ("delivery_state_", DeliveryState),
        ("disposition_", Disposition),
        ("duty_", DutyType),
        ("device_kind_", DeviceKind),
        ("device_state_", DeviceState),
        ("fault_kind_", FaultKind),
        ("fault_state_", FaultState),
        ("replay_mark_", ReplayMark),
        ("step_", [a.value.replace("_", "-") for a in FaultAction]),
    ):
        used |= {f"{prefix}{value}" for value in values}
    missing = sorted(used - set(MESSAGES))
    assert not missing, missing
    assert catalogue("xx") == catalogue("zh")


def _sse_events(response: httpx.Response, count: int) -> Iterator[dict[str, object]]:
    seen = 0
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line[6:])
            seen += 1
            if seen == count:
                return


def test_the_feed_is_role_filtered_and_resumes_from_last_event_id(hub: Hub) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['bureau']}"}
    with (
        httpx.Client(base_url=_base(hub), timeout=5) as client,
        client.stream("GET", "/api/v1/feed", headers=headers) as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert wait_until(lambda: hub.feed.subscribers == 1, 5)
        opened = hub.feed.publish("alarm_opened", {"alarm_id": "a1", "kind": "panic"})
        fault = hub.feed.publish("fault", {"fault_id": 7, "subject": "temp-1"})
        (first,) = _sse_events(stream, 1)
        assert (first["kind"], first["seq"]) == ("fault", fault.seq), "the bureau gets no alarm notices"
    guard = {"Authorization": f"Bearer {TOKENS['guard']}", "Last-Event-ID": str(opened.seq - 1)}
    with (
        httpx.Client(base_url=_base(hub), timeout=5) as client,
        client.stream("GET", "/api/v1/feed", headers=guard) as stream,
    ):
        kinds = [e["kind"] for e in _sse_events(stream, 2)]
        assert kinds == ["alarm_opened", "fault"]  # resumed: what it missed, in order
    future = {"Authorization": f"Bearer {TOKENS['guard']}", "Last-Event-ID": str(fault.seq + 1000)}
    with (
        httpx.Client(base_url=_base(hub), timeout=5) as client,
        client.stream("GET", "/api/v1/feed", headers=future) as stream,
    ):
        (first,) = _sse_events(stream, 1)
        assert first["kind"] == "resync", "an id this feed never gave (a restarted hub) means reload"
    assert not visible_to(Role.BUREAU, "duty_overdue")
    assert visible_to(Role.BUREAU, "sla_warning")
    assert visible_to(Role.MAINTENANCE, "alarm_opened")


def test_daily_figures_for_the_chart(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, None)
    raw["devices"] = [d for d in raw["devices"] if d["id"] in ("temp-1", "btn-1", "cam-1")]
    raw["health"] = {"check_interval_s": 60}
    clock = ManualClock(datetime.now(UTC))
    hub = start_hub(raw, api=True, clock=clock)
    publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 21.0})
    assert wait_until(lambda: hub.tracker.get("temp-1").state.value == "online", 5)  # type: ignore[union-attr]
    maintenance = {"Authorization": f"Bearer {TOKENS['maintenance']}"}
    opened = httpx.post(
        f"{_base(hub)}/api/v1/faults",
        json={"subject": "cam-1", "kind": "inspection", "summary": "lens cracked"},
        headers=maintenance,
    )
    assert opened.status_code == 201
    clock.advance(120)
    # Days are Beijing days (site.timezone's default), given as dates, `to` included.
    today = hub.config.site.local_date(clock.now())
    start = today - timedelta(days=2)
    bureau = {"Authorization": f"Bearer {TOKENS['bureau']}"}
    answer = httpx.get(
        f"{_base(hub)}/api/v1/reports/daily",
        params={"from": start.isoformat(), "to": today.isoformat()},
        headers=bureau,
    )
    assert answer.status_code == 200, answer.text
    days = answer.json()["days"]
    assert [d["day"] for d in days] == [(start + timedelta(days=i)).isoformat() for i in range(3)]
    assert days[0]["uptime_pct"] is None  # before anything was heard: nothing counted
    assert days[-1]["uptime_pct"] == 100.0  # the one device heard from has been online since
    assert [d["open_faults"] for d in days] == [0, 0, 1]
    guard = httpx.get(f"{_base(hub)}/api/v1/reports/daily", headers={"Authorization": f"Bearer {TOKENS['guard']}"})
    assert guard.json()["error"]["code"] == "forbidden"


def test_open_faults_per_day_counts_faults_open_at_any_time_that_day() -> None:
    day0 = datetime(2026, 11, 1, tzinfo=UTC)
    days = [(a, b) for _, a, b in site_days(day0 + timedelta(hours=12), day0 + timedelta(days=3), UTC)]
    assert [d[0] for d in days] == [day0 + timedelta(hours=12), day0 + timedelta(days=1), day0 + timedelta(days=2)]

    def iso(at: datetime) -> str:
        return at.isoformat()

    faults: list[dict[str, str | None]] = [
        {"opened_at": iso(day0 + timedelta(hours=20)), "recovered_at": iso(day0 + timedelta(hours=30))},
        {"opened_at": iso(day0 + timedelta(days=2, hours=1)), "recovered_at": None, "closed_at": None},
        {"opened_at": iso(day0 - timedelta(days=5)), "recovered_at": iso(day0 - timedelta(days=4))},
    ]
    assert open_faults_per_day(faults, days) == [1, 1, 1]


def test_an_overdue_duty_is_announced_once_on_the_feed(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(datetime.now(UTC))
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True, clock=clock)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: hub.store.count("alarms") == 1, 5)

    def announced() -> list[tuple[object, object]]:
        return [(e.data["alarm_id"], e.data["type"]) for e in hub.feed.recent() if e.kind == "duty_overdue"]

    hub.duty_reminder.run_once()
    assert announced() == []
    clock.advance(30 * 60 + 1)
    hub.duty_reminder.run_once()
    hub.duty_reminder.run_once()  # again: no second reminder for the same duty
    ((alarm_id, duty),) = announced()
    assert duty == "phone"
    with httpx.Client(base_url=_base(hub), headers={"Authorization": f"Bearer {TOKENS['guard']}"}) as guard:
        made = guard.post(f"/api/v1/alarms/{alarm_id}/reports", json={"type": "written", "by": "Li"})
        assert made.status_code == 201
        clock.advance(30 * 60)
        hub.duty_reminder.run_once()
        assert announced() == [(alarm_id, "phone")], "the written report was made in time: nothing to remind"
        metrics = httpx.get(f"{_base(hub)}/metrics", headers={"Authorization": f"Bearer {TOKENS['bureau']}"}).text
        assert re.search(r'campus_hub_incident_duties_overdue\{type="phone"\} 1\.0', metrics)
