"""The `health:`, `sla:` and `reports:` sections: how device health is judged, the recovery-time rule and its
escalations, how uptime is reported, and where the monthly safety report is posted."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator

from hub.config.base import StrictModel

MAX_RECOVERY_HOURS = 24.0


class EscalationWebhook(StrictModel):
    """An HTTP endpoint that also receives each SLA escalation (the same JSON as the MQTT escalation)."""

    url: AnyHttpUrl = Field(description="URL the escalation JSON is POSTed to.")
    secret: SecretStr | None = Field(
        default=None,
        description="Shared secret for X-Hub-Signature-256 (HMAC-SHA256 of the body). Without it: unsigned.",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Per-request timeout, seconds.")


class SlaConfig(StrictModel):
    """The recovery rule for failures of the technical security system."""

    recovery_hours: float = Field(
        default=MAX_RECOVERY_HOURS,
        gt=0,
        le=MAX_RECOVERY_HOURS,
        description="Hours within which a failure must be restored; the rules allow at most 24.",
    )
    warn_at: list[float] = Field(
        default_factory=lambda: [0.5, 0.8],
        description="Fractions of the recovery time at which an open fault raises a warning.",
    )
    flap_window_s: float = Field(
        default=600,
        ge=0,
        le=86400,
        description="A fault that recurs within this many seconds of recovering continues, with its original deadline.",
    )
    inspection_deadline_hours: float = Field(
        default=72,
        gt=0,
        le=24 * 90,
        description="Default deadline for an inspection finding (a fault registered by hand as `inspection`); the "
        "person who records it may give another. Separate from recovery_hours, the rule for equipment failures.",
    )
    escalation_webhook: EscalationWebhook | None = Field(
        default=None, description="Optional HTTP endpoint that receives every SLA escalation too."
    )

    @field_validator("warn_at")
    @classmethod
    def _fractions(cls, values: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in values):
            raise ValueError("each warn_at fraction must be between 0 and 1 (the deadline itself is the breach)")
        return sorted(set(values))


class HealthConfig(StrictModel):
    """How device health is judged."""

    low_battery_pct: float = Field(
        default=20, ge=0, le=100, description="Battery below this percentage is a low-battery trouble."
    )
    battery_clear_pct: float = Field(
        default=25,
        ge=0,
        le=100,
        description="Low battery clears only at or above this, so a level near it cannot flap.",
    )
    check_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="How often silent devices and fault deadlines are checked, seconds."
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> HealthConfig:
        if self.battery_clear_pct < self.low_battery_pct:
            raise ValueError("battery_clear_pct must not be below low_battery_pct")
        return self


class MonthlyDelivery(StrictModel):
    """The monthly safety report (安全月报表) POSTed to the district bureau's endpoint once a month."""

    url: AnyHttpUrl = Field(description="URL the previous month's report (JSON) is POSTed to.")
    secret: SecretStr | None = Field(
        default=None,
        description="Shared secret for X-Hub-Signature-256 (HMAC-SHA256 of the body). Without it: unsigned.",
    )
    day_of_month: int = Field(
        default=1,
        ge=1,
        le=28,
        description="Site-local day of the month the previous month's report is queued on (1-28, so every month "
        "has it); a hub that was down then queues it as soon as it runs again that month.",
    )
    hour: int = Field(default=6, ge=0, le=23, description="Site-local hour of that day from which it is queued.")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Per-request timeout, seconds.")
    retry_base_s: float = Field(
        default=30.0, gt=0, le=3600, description="First retry delay after a failed POST, seconds; doubles each time."
    )
    retry_max_s: float = Field(default=3600.0, gt=0, le=86400, description="Longest delay between retries, seconds.")

    @model_validator(mode="after")
    def _retry_order(self) -> MonthlyDelivery:
        if self.retry_max_s < self.retry_base_s:
            raise ValueError("retry_max_s must be at least retry_base_s")
        return self


class ReportsConfig(StrictModel):
    """Uptime reports for the education bureau."""

    exclude_maintenance: bool = Field(
        default=True,
        description="Leave downtime inside planned maintenance windows out of uptime (breaches always count).",
    )
    school_days: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5],
        description="ISO weekdays (1 = Monday) the guard room records the four items on; other days are not "
        "school days and are never shown as not recorded.",
    )
    min_guards_on_duty: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Guards on duty a school day needs for the full-time guards item to count as met.",
    )
    monthly_delivery: MonthlyDelivery | None = Field(
        default=None,
        description="POST the monthly safety report to the bureau's endpoint once a month (off when absent).",
    )

    @field_validator("school_days")
    @classmethod
    def _weekdays(cls, values: list[int]) -> list[int]:
        if any(not 1 <= v <= 7 for v in values):
            raise ValueError("school_days are ISO weekdays, 1 (Monday) to 7 (Sunday)")
        return sorted(set(values))
