"""Python's cyclic garbage collector kept off the alarm path: what the hub built at start is not scanned again.

A full collection stops every thread of the process while it walks every tracked object. The hub builds some
hundred and fifty thousand of them at start (configuration models, adapters, routes, metrics) that live as long
as the process; walking them took 100-140 ms under a telemetry flood, once or twice a minute, and a press that
arrived then waited it out (bench/alarm_flood.py). After start they are moved to the collector's permanent
generation (`gc.freeze`, after a collection of the young generations, so little garbage is frozen with them: a
full collection here would cost every start, and each test starts hubs, what it saves); full collections then
walk only what came later. `release` gives them back to the collector when a hub stops, so a process that starts
and stops hubs (the tests, the demo) does not keep the cycles of stopped hubs for ever.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def settle() -> None:
    """Collect once, then freeze everything that is left: call when the hub has started."""
    started = time.perf_counter()
    gc.collect(1)
    gc.freeze()
    log.info(
        "collector: %d objects built at start frozen out of later collections (%.0f ms)",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )


def release() -> None:
    """Give the frozen objects back to the collector: call when the hub has stopped."""
    gc.unfreeze()
