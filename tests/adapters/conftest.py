"""What the adapter tests share: a real SQLite store for the messages that go through the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.core.clock import SystemClock
from hub.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "x.db", SystemClock())
    opened.open()
    yield opened
    opened.close_thread_connection()
