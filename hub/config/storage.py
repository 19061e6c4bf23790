"""The `storage:` and `retention:` sections: where the hub keeps what it collects, and for how long."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from hub.config.base import StrictModel

MIN_RETENTION_DAYS = 90


class StorageConfig(StrictModel):
    """The embedded store."""

    path: Path = Field(default=Path("campus-hub.db"), description="SQLite file; relative to the config file's folder.")
    reserve_mb: float = Field(
        default=8.0,
        ge=0,
        le=1024,
        description="Space kept in a file beside the database (<path>.reserve) and given up for alarms when the"
        " disk fills; 0 keeps none.",
    )
    space_check_s: float = Field(
        default=5.0,
        ge=0.05,
        le=300,
        description="While the store cannot write (disk full, I/O error), how often to probe for recovery, seconds.",
    )


class RetentionConfig(StrictModel):
    """How long the hub keeps what it collects."""

    days: int = Field(
        default=MIN_RETENTION_DAYS,
        description="Days video/image information and telemetry are kept; the rules require at least 90.",
    )
    records_days: int = Field(default=365, description="Days alarms, faults and the audit log are kept; at least 90.")
    purge_interval_s: float = Field(
        default=3600, ge=10, le=86400, description="How often records past their retention are purged, seconds."
    )
    purge_batch: int = Field(
        default=500, ge=1, le=10000, description="Rows deleted per short transaction, so ingest never waits long."
    )

    @field_validator("days", "records_days")
    @classmethod
    def _at_least_90(cls, value: int, info: ValidationInfo) -> int:
        if value < MIN_RETENTION_DAYS:
            what = "video and image information" if info.field_name == "days" else "alarm records and the audit log"
            raise ValueError(
                f"retention.{info.field_name} must be at least {MIN_RETENTION_DAYS}: the rules require {what} "
                f"to be kept no less than {MIN_RETENTION_DAYS} days"
            )
        return value
