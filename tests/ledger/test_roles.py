"""Every ledger route checks its token or session and its role: one hub, every route, every role (admin passes
every check); a refused request changes nothing."""

from __future__ import annotations

from pathlib import Path

import httpx

from hub.devtools.broker import Mosquitto
from tests.conftest import TOKENS, HubFactory, base_config

G, M, B = "guard", "maintenance", "bureau"
# (method, path, roles besides admin that may use it)
ROUTES = [
    ("GET", "/api/v1/hazards", {G, M, B}),
    ("POST", "/api/v1/hazards", {G, M}),
    ("GET", "/api/v1/hazards/export", {G, M, B}),
    ("GET", "/api/v1/hazards/{hazard}", {G, M, B}),
    ("POST", "/api/v1/hazards/{hazard}/assess", {M}),
    ("POST", "/api/v1/hazards/{hazard}/close", {M}),
    ("GET", "/api/v1/incidents", {G, M, B}),
    ("POST", "/api/v1/incidents", {G}),
    ("GET", "/api/v1/incidents/{incident}", {G, M, B}),
    ("POST", "/api/v1/incidents/{incident}/reports", {G}),
    ("POST", "/api/v1/incidents/{incident}/close", {G}),
    ("GET", "/api/v1/bureau/alarms", {B}),
    ("GET", "/api/v1/reports/monthly?month=2026-01", {M, B}),
    ("GET", "/api/v1/inspections/plans", {G, M, B}),
    ("POST", "/api/v1/inspections/plans", {M}),
    ("GET", "/api/v1/inspections/plans/{plan}", {G, M, B}),
    ("POST", "/api/v1/inspections/plans/{plan}/checks", {G, M}),
    ("GET", "/api/v1/people", set()),
    ("POST", "/api/v1/people", set()),
    ("POST", "/api/v1/people/{person}/reset", set()),
    ("POST", "/api/v1/people/{person}/disable", set()),
    ("POST", "/api/v1/people/{person}/enable", set()),
    ("POST", "/api/v1/me/password", {G, M, B}),
]


def test_every_ledger_route_checks_token_and_role(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True)
    base = f"http://127.0.0.1:{hub.api_port}"
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKENS['admin']}"}, timeout=10)
    with admin:
        ids = {
            "hazard": admin.post("/api/v1/hazards", json={"place": "x", "category": "x", "summary": "x"}).json()["id"],
            "incident": admin.post("/api/v1/incidents", json={"kind": "other", "place": "x", "summary": "x"}).json()[
                "id"
            ],
            "plan": admin.post(
                "/api/v1/inspections/plans",
                json={
                    "name": "x",
                    "category": "x",
                    "frequency": "daily",
                    "items": [{"id": "a", "what": "x", "where": "x"}],
                },
            ).json()["id"],
            "person": admin.post(
                "/api/v1/people",
                json={"name": "zhang-wei", "full_name": "张伟", "role": "guard", "password": "long-enough-1"},
            ).json()["name"],
        }
        before = admin.get("/api/v1/audit", params={"limit": 1000}).json()["audit"]
        for method, path, allowed in ROUTES:
            url = path.format(**ids)
            with httpx.Client(base_url=base, timeout=10) as anon:
                refused = anon.request(method, url, json={})
                assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthenticated"), url
            for role, token in TOKENS.items():
                if role == "admin" or role in allowed:
                    continue
                with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
                    answer = client.request(method, url, json={"note": "x"})
                    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden"), (role, url)
        assert admin.get("/api/v1/audit", params={"limit": 1000}).json()["audit"] == before
