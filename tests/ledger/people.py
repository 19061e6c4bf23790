"""Named people for the ledger's tests: each holds an API token under their own name, so every signed step and audit
row names a person (the guard-room station tokens of `TOKENS` name no one)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from hub.app import Hub
from tests.conftest import TOKENS, base_config

# name -> (role, token)
PEOPLE = {
    "zhang-wei": ("maintenance", "zhang-wei-token-0123456789"),
    "li-na": ("maintenance", "li-na-token-0123456789"),
    "wang-fang": ("admin", "wang-fang-token-0123456789"),
    "zhao-gang": ("guard", "zhao-gang-token-0123456789"),
    "sun-li": ("bureau", "sun-li-token-0123456789"),
}


def ledger_config(tmp_path: Path, broker_port: int) -> dict[str, Any]:
    raw = base_config(tmp_path, broker_port, None)
    raw["api"]["tokens"] += [{"name": n, "role": r, "token": t} for n, (r, t) in PEOPLE.items()]
    return raw


def person(hub: Hub, name: str) -> httpx.Client:
    token = PEOPLE[name][1]
    return httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )


ACCOUNT_PASSWORD = "Ledger-pass-2026"


def account(hub: Hub, name: str, role: str) -> httpx.Client:
    """A personal account made by the admin (a station token), logged in through the console's form like a
    browser: the returned client carries the session cookie and sends the page's CSRF token with every request."""
    base = f"http://127.0.0.1:{hub.api_port}"
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    made = httpx.post(
        f"{base}/api/v1/people",
        headers=admin,
        json={"name": name, "full_name": name, "role": role, "phone": "", "password": ACCOUNT_PASSWORD},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    client = httpx.Client(base_url=base, timeout=10)
    form = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert form is not None
    answer = client.post("/login", data={"name": name, "password": ACCOUNT_PASSWORD, "csrf_token": form.group(1)})
    assert answer.status_code == 303, answer.text
    csrf = re.search(r'"csrf": "([^"]+)"', client.get("/ledger").text)
    assert csrf is not None
    client.headers["X-CSRF-Token"] = csrf.group(1)
    return client
