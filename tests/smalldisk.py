"""A real small filesystem for full-disk tests: a tmpfs of a few MB (we run as root here), unmounted at the end.

Where mounting is not allowed the tests are skipped with the reason: SQLite's `max_page_count` would raise the same
SQLITE_FULL but would not exercise the reserve file or the free-space probe, which work on the filesystem.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs. Request it before `start_hub`, so the hub is stopped before it is unmounted."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); full-disk tests need a real one")
    yield where
    # Lazy: a late SQLite handle must not leave the mount behind.
    subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, size: str) -> None:
    """Grow (or shrink) the filesystem, as an operator adding space would."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(where)], check=True)


def free_bytes(where: Path) -> int:
    stat = os.statvfs(where)
    return stat.f_bavail * stat.f_frsize


def fill(where: Path, leave: int) -> Path:
    """Something else on the disk (recordings, logs): a file that leaves `leave` bytes free."""
    filler = where / "filler"
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(free_bytes(where) - leave, 0))
    return filler
