"""The `video:` and `recordings:` sections: camera checks, alarm evidence, and how far back recordings reach."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from hub.config.base import StrictModel


class VideoConfig(StrictModel):
    """Camera checks (picture diagnosis) and alarm evidence snapshots."""

    check_interval_s: float = Field(
        default=300, ge=1, le=86400, description="Each camera with a source is checked this often, seconds."
    )
    concurrency: int = Field(default=2, ge=1, le=32, description="Camera checks running at once (worker threads).")
    fail_after_checks: int = Field(
        default=3, ge=1, le=100, description="A camera_check fault opens after this many failing checks in a row."
    )
    snapshot_dir: Path | None = Field(
        default=None,
        description="Folder of reference frames, latest snapshots and evidence; default: 'snapshots' next to the "
        "SQLite file. Relative to the config file's folder.",
    )
    evidence_budget_s: float = Field(
        default=2.0, gt=0, le=30, description="Time allowed to grab evidence snapshots when an alarm opens, seconds."
    )


class RecordingsConfig(StrictModel):
    """How far back each camera's recordings reach (the 90-day video retention rule)."""

    root: Path | None = Field(
        default=None,
        description="Recordings folder laid out root/<camera_id>/YYYY-MM-DD/...; relative to the config file. "
        "Without it the cameras' health reports are used.",
    )
    check_interval_s: float = Field(
        default=3600, ge=1, le=86400, description="How often each camera's retention is checked, seconds."
    )
    forecast_horizon_days: int = Field(
        default=14, ge=0, le=365, description="Warn when the forecast falls short of retention within this many days."
    )
