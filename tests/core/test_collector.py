"""The collector: what a hub built at start is frozen out of full collections while it runs, and given back after."""

from __future__ import annotations

import gc

from hub.core import collector


def test_settle_freezes_what_exists_and_release_gives_it_back() -> None:
    kept = [{"built": n} for n in range(1000)]  # tracked objects that live on
    try:
        collector.settle()
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept)
        assert all(not any(d is k for k in gc.get_objects(2)) for d in kept[:3]), "frozen objects are still scanned"
    finally:
        collector.release()
    assert gc.get_freeze_count() == 0
