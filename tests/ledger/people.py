"""Named people for the ledger's tests: each holds an API token under their own name, so every signed step and audit
row names a person (the guard-room station tokens of `TOKENS` name no one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from hub.app import Hub
from tests.conftest import base_config

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
