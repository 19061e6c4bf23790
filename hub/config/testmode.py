"""The `test_mode:` section: how long a device, a building or the whole site may be put on test (or a drill run)."""

from __future__ import annotations

from pydantic import Field

from hub.config.base import StrictModel


class TestModeConfig(StrictModel):
    """Bounds of test mode and drills: every one needs an end, and the end may lie at most this far ahead."""

    __test__ = False  # pytest: not a test class, whatever its name

    max_hours: float = Field(
        default=8,
        gt=0,
        le=72,
        description="Longest test mode or drill, hours from its start: a forgotten test must not keep a button "
        "from 110 for long.",
    )
