"""The console's login on a store that cannot write: a clear 503 with the stable code `store_unavailable`, a page for
a browser and the API's error JSON otherwise, never a bare 500; the pages show the degraded store's banner."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx

from hub.devtools.broker import Mosquitto
from hub.store.db import StoreDegraded
from tests.conftest import TOKENS, HubFactory, base_config, wait_until
from tests.smalldisk import fill, free_bytes, remount, small_disk

__all__ = ["small_disk"]  # the fixture, used by name


def _login_form(client: httpx.Client) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def test_login_on_a_full_disk_answers_503_store_unavailable(
    small_disk: Path, tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, None)
    raw["storage"] = {"path": str(small_disk / "hub.db"), "reserve_mb": 0, "space_check_s": 0.1}
    hub = start_hub(raw, api=True)
    base = f"http://127.0.0.1:{hub.api_port}"
    # An empty WAL, then nothing left: the session row of a login has nowhere to go.
    with sqlite3.connect(small_disk / "hub.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = fill(small_disk, leave=0)
    assert free_bytes(small_disk) == 0

    with httpx.Client(base_url=base, timeout=5) as browser:
        token = _login_form(browser)
        page = browser.post(
            "/login", data={"token": TOKENS["guard"], "csrf_token": token}, headers={"Accept": "text/html"}
        )
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert 'data-testid="login-error"' in page.text
        assert "主机存储暂时无法写入" in page.text
        # The degraded store's banner is shown, not hidden.
        assert re.search(r'data-testid="store-degraded">', page.text)
        assert hub.store.degraded is StoreDegraded.FULL

    with httpx.Client(base_url=base, timeout=5) as script:
        token = _login_form(script)
        answer = script.post(
            "/login", data={"token": TOKENS["guard"], "csrf_token": token}, headers={"Accept": "application/json"}
        )
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "store_unavailable"

    # Room again: the store recovers and the same login goes through.
    filler.unlink()
    remount(small_disk, "16m")
    assert wait_until(lambda: hub.store.degraded is None, 10.0)
    with httpx.Client(base_url=base, timeout=5) as browser:
        token = _login_form(browser)
        done = browser.post("/login", data={"token": TOKENS["guard"], "csrf_token": token})
        assert done.status_code == 303
        assert 'data-testid="store-degraded" hidden' in browser.get("/").text
