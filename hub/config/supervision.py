"""The `supervision:` section: when the hub restarts a dead worker of the alarm path, and when it gives up and exits
so that systemd starts it afresh."""

from __future__ import annotations

from pydantic import Field

from hub.config.base import StrictModel


class SupervisionConfig(StrictModel):
    """Restart and exit limits for the workers the alarm path needs (ingest writer, outbox workers, failover)."""

    max_restarts: int = Field(
        default=5,
        ge=0,
        le=100,
        description="Restarts of one dead critical worker allowed within window_s; one more death exits the process.",
    )
    window_s: float = Field(
        default=600, ge=1, le=86400, description="The window, seconds, in which max_restarts are counted."
    )
    restart_backoff_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Wait before the first restart of a dead worker, seconds; doubled for each restart in the window "
        "(at most 30 s).",
    )
    stuck_exit_s: float = Field(
        default=120,
        ge=1,
        le=3600,
        description="A critical worker seen stuck this long, seconds, makes the process exit (a stuck thread cannot "
        "be stopped).",
    )
