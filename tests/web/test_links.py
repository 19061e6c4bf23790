"""Signed evidence links: one path, until one time, under one key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from hub.core.clock import SystemClock
from hub.store import Store
from hub.web.links import LinkSigner, link_key

NOW = datetime(2026, 12, 6, 8, tzinfo=UTC)
PATH = "/api/v1/evidence/a1/cam-1.jpg"


def parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path, query["exp"][0], query["sig"][0]


def test_a_link_opens_its_own_path_until_it_expires() -> None:
    signer = LinkSigner(b"k" * 32, "https://hub.example", 3600)
    path, exp, sig = parts(signer.sign(PATH, NOW))
    assert path == PATH
    assert signer.valid(PATH, exp, sig, NOW + timedelta(minutes=59))
    assert not signer.valid(PATH, exp, sig, NOW + timedelta(hours=1))
    assert not signer.valid("/api/v1/evidence/a1/cam-2.jpg", exp, sig, NOW)
    assert not signer.valid(PATH, str(int(exp) + 3600), sig, NOW), "a longer life is not the signed one"
    assert not LinkSigner(b"x" * 32, "https://hub.example", 3600).valid(PATH, exp, sig, NOW)
    for exp_, sig_ in ((None, sig), (exp, None), ("-1", sig), ("1e9", sig), ("9" * 40, sig)):
        assert not signer.valid(PATH, exp_, sig_, NOW)


def test_the_kept_key_survives_a_restart_and_a_configured_one_wins(tmp_path: Path) -> None:
    store = Store(tmp_path / "hub.db", SystemClock())
    store.open()
    first = link_key(store, None)
    assert len(first) == 32
    assert link_key(store, None) == first
    assert link_key(store, b"c" * 32) == b"c" * 32
