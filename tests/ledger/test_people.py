"""Personal accounts over the real API and login form: the administrator creates, resets, disables and enables
them; a person logs in by name and password (Argon2id), acts in their own name in the audit log, changes their
own password; a reset or disabled account's sessions end at once. The configured tokens keep working."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx

from hub.app import Hub
from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.people.passwords import hash_password, verify
from hub.web.throttle import MAX_DELAY_S
from tests.conftest import TOKENS, HubFactory, base_config

PASSWORD = "zw-安全-2026-spring"


def _base(hub: Hub) -> str:
    return f"http://127.0.0.1:{hub.api_port}"


def _admin(hub: Hub) -> httpx.Client:
    return httpx.Client(base_url=_base(hub), headers={"Authorization": f"Bearer {TOKENS['admin']}"}, timeout=10)


def _log_in(client: httpx.Client, name: str, password: str) -> httpx.Response:
    form = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert form is not None
    return client.post("/login", data={"name": name, "password": password, "csrf_token": form.group(1)})


def _csrf(client: httpx.Client, path: str) -> str:
    match = re.search(r'"csrf": "([^"]+)"', client.get(path).text)
    assert match is not None
    return match.group(1)


def test_password_hashes_are_argon2id_and_only_match_their_password() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify(stored, PASSWORD)
    assert not verify(stored, PASSWORD + "x")
    assert not verify(None, PASSWORD)
    assert not verify("not a hash", PASSWORD)


def test_a_person_logs_in_acts_in_their_name_and_is_managed_by_the_admin(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    # The login throttle backs off after a few failures from one address; the test's clock waits it out.
    clock = ManualClock(datetime.now(UTC))
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True, clock=clock)
    with _admin(hub) as admin:
        person = {"name": "zhang-wei", "full_name": "张伟", "role": "maintenance", "phone": "13800000001"}
        weak = admin.post("/api/v1/people", json={**person, "password": "short"})
        assert (weak.status_code, weak.json()["error"]["code"]) == (422, "weak_password")
        named = admin.post("/api/v1/people", json={**person, "password": "zhang-wei-2026!"})
        assert named.json()["error"]["code"] == "weak_password"
        created = admin.post("/api/v1/people", json={**person, "password": PASSWORD})
        assert created.status_code == 201, created.text
        assert created.json()["full_name"] == "张伟"
        assert "password_hash" not in created.json()
        assert "$argon2" not in str(created.json())
        again = admin.post("/api/v1/people", json={**person, "password": PASSWORD})
        assert (again.status_code, again.json()["error"]["code"]) == (409, "person_state_conflict")
        station = admin.post("/api/v1/people", json={**person, "name": "guard", "password": PASSWORD})
        assert station.json()["error"]["code"] == "name_taken"
        guard = httpx.Client(base_url=_base(hub), headers={"Authorization": f"Bearer {TOKENS['guard']}"})
        with guard:
            assert guard.get("/api/v1/people").status_code == 403
            assert guard.post("/api/v1/me/password", json={"current": "x", "password": "y"}).status_code == 409

        with httpx.Client(base_url=_base(hub), timeout=10) as browser:
            wrong = _log_in(browser, "zhang-wei", PASSWORD + "x")
            assert wrong.status_code == 401
            assert "账号或密码错误" in wrong.text
            assert _log_in(browser, "nobody", PASSWORD).status_code == 401
            answer = _log_in(browser, "zhang-wei", PASSWORD)
            assert (answer.status_code, answer.headers["location"]) == (303, "/maintenance")
            assert browser.get("/api/v1/session").json()["name"] == "zhang-wei"
            page = browser.get("/maintenance").text
            assert 'data-testid="user">zhang-wei<' in page
            csrf = _csrf(browser, "/maintenance")
            hazard = browser.post(
                "/api/v1/hazards",
                json={"place": "A栋", "category": "消防", "summary": "灭火器过期"},
                headers={"X-CSRF-Token": csrf},
            )
            assert hazard.status_code == 201, hazard.text
            assert hazard.json()["registered_by"] == "zhang-wei"

            # Their own password: the current one asked again; then every session of the account ends.
            headers = {"X-CSRF-Token": csrf}
            bad = browser.post(
                "/api/v1/me/password", json={"current": "nope", "password": "a-new-one-2026"}, headers=headers
            )
            assert (bad.status_code, bad.json()["error"]["code"]) == (403, "wrong_password")
            changed = browser.post(
                "/api/v1/me/password", json={"current": PASSWORD, "password": "a-new-one-2026"}, headers=headers
            )
            assert changed.status_code == 200, changed.text
            assert browser.get("/api/v1/session").status_code == 401
            assert _log_in(browser, "zhang-wei", PASSWORD).status_code == 401
            clock.advance(MAX_DELAY_S)
            assert _log_in(browser, "zhang-wei", "a-new-one-2026").status_code == 303

            # Disabled: the open session ends and no login is let in; enabled again, it is.
            assert admin.post("/api/v1/people/zhang-wei/disable").json()["disabled"] is True
            assert browser.get("/api/v1/session").status_code == 401
            assert _log_in(browser, "zhang-wei", "a-new-one-2026").status_code == 401
            admin.post("/api/v1/people/zhang-wei/enable").raise_for_status()
            clock.advance(MAX_DELAY_S)
            assert _log_in(browser, "zhang-wei", "a-new-one-2026").status_code == 303
            # Reset by the admin: the old password and the session opened with it stop working.
            admin.post("/api/v1/people/zhang-wei/reset", json={"password": "reset-by-admin-1"}).raise_for_status()
            assert browser.get("/api/v1/session").status_code == 401
            assert _log_in(browser, "zhang-wei", "reset-by-admin-1").status_code == 303
        assert admin.post("/api/v1/people/nobody/disable").json()["error"]["code"] == "person_not_found"

        audit = [(a["action"], a["actor"], a["target"]) for a in reversed(admin.get("/api/v1/audit").json()["audit"])]
        mine = [row for row in audit if "zhang-wei" in (row[1], row[2])]
        assert mine == [
            ("person.create", "admin", "zhang-wei"),
            ("session.login", "zhang-wei", "zhang-wei"),
            ("hazard.register", "zhang-wei", f"hazard:{hazard.json()['id']}"),
            ("person.password", "zhang-wei", "zhang-wei"),
            ("session.login", "zhang-wei", "zhang-wei"),
            ("person.disable", "admin", "zhang-wei"),
            ("person.enable", "admin", "zhang-wei"),
            ("session.login", "zhang-wei", "zhang-wei"),
            ("person.reset", "admin", "zhang-wei"),
            ("session.login", "zhang-wei", "zhang-wei"),
        ]
        listed = admin.get("/api/v1/people").json()["people"]
        assert [(p["name"], p["role"], p["phone"], p["disabled"]) for p in listed] == [
            ("zhang-wei", "maintenance", "13800000001", False)
        ]
