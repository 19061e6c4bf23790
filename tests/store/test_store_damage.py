"""A database that cannot be used stops the hub with one clear message; a damaged page is found at start and shown on
/healthz; backups are online and consistent. Real SQLite files, damaged by writing bytes into them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from hub.app import Hub
from hub.config import HubConfig
from hub.core.clock import SystemClock
from hub.devtools.broker import Mosquitto
from hub.store import Store
from hub.store.schema import StoreOpenError
from tests.conftest import base_config


def _config_file(tmp_path: Path, db: Path, port: int = 1) -> Path:
    raw = base_config(tmp_path, port, None)
    raw["storage"]["path"] = str(db)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=60, check=False)


def test_a_file_that_is_not_a_database_stops_the_hub_with_one_clear_message(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    db.write_bytes(b"this is a text file, not a database" * 200)
    result = _cli("run", "--config", str(_config_file(tmp_path, db)))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip() and "config:" not in line]
    assert len(lines) == 1, result.stderr
    assert str(db) in lines[0]
    assert "move it aside" in lines[0]
    assert "Traceback" not in result.stderr


def test_an_unopenable_path_says_what_to_check(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(StoreOpenError, match="storage.path"):
        Store(blocker / "hub.db", SystemClock()).open()


def _damage_a_page(db: Path) -> None:
    """Overwrite the middle of a table's pages (not the header): the file opens, quick_check finds it."""
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE filler (x TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("y" * 500,) for _ in range(400)])
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.seek(size // 2)
        f.write(b"\x00\xff" * 2048)


def test_a_damaged_page_is_found_at_start_and_healthz_says_so(tmp_path: Path, broker: Mosquitto) -> None:
    db = tmp_path / "hub.db"
    store = Store(db, SystemClock())
    store.open()
    store.close_thread_connection()
    _damage_a_page(db)
    raw = base_config(tmp_path, broker.port, None)
    hub = Hub(HubConfig.model_validate(raw))
    try:
        assert hub.store.damage is not None
        port = hub.start_api_thread()
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 503
        assert health.json()["store"] == "damaged"
        assert "store damaged" in health.json()["reason"]
    finally:
        hub.stop_api()
        hub.store.close_thread_connection()
    assert _cli("check-store", "--config", str(_config_file(tmp_path, db, broker.port))).returncode == 1


def test_backup_is_an_online_consistent_copy(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    store = Store(db, SystemClock())
    store.open()
    with store.write() as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('marker', 'kept')")
    store.close_thread_connection()
    config = _config_file(tmp_path, db)
    copy = tmp_path / "backups" / "hub-copy.db"
    result = _cli("backup", "--config", str(config), str(copy))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'marker'").fetchone() == ("kept",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert _cli("check-store", "--config", str(config)).stdout.strip() == "ok"
