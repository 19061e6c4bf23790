"""The `alarms:` and `incidents:` sections: site-wide alarm rule defaults, and the report duties a serious incident
brings."""

from __future__ import annotations

from pydantic import Field, model_validator

from alerts.model import AlarmKind
from hub.config.base import StrictModel


class AlarmRulesConfig(StrictModel):
    """Site-wide defaults of the alarm rules; devices may override the heat limits."""

    heat_threshold_c: float = Field(
        default=57.0,
        ge=30,
        le=150,
        description="Heat alarm at or above this temperature (57 is inside class A1's 54-65 static response).",
    )
    heat_rate_c_per_min: float = Field(
        default=10.0, gt=0, le=100, description="Heat alarm when the temperature rises at least this fast."
    )
    heat_rate_window_s: float = Field(
        default=60.0, ge=10, le=600, description="Window over which the rate of rise is measured, seconds."
    )
    heat_rate_min_span_s: float = Field(
        default=15.0,
        ge=1,
        description="Shortest span a rate of rise is computed over, so sensor noise between close readings is ignored.",
    )

    @model_validator(mode="after")
    def _span_in_window(self) -> AlarmRulesConfig:
        if self.heat_rate_min_span_s > self.heat_rate_window_s:
            raise ValueError("heat_rate_min_span_s must not exceed heat_rate_window_s")
        return self


class IncidentDutiesConfig(StrictModel):
    """Follow-up reports a serious incident obliges the school to make; local rules differ, so they are set here."""

    phone_report_minutes: float = Field(
        default=30, gt=0, le=24 * 60, description="Minutes after the alarm by which the phone report is due."
    )
    written_report_minutes: float = Field(
        default=60, gt=0, le=7 * 24 * 60, description="Minutes after the alarm by which the written report is due."
    )
    kinds: list[AlarmKind] = Field(
        default_factory=lambda: [AlarmKind.PANIC, AlarmKind.FIRE, AlarmKind.HEAT],
        description="Alarm kinds that carry the duties.",
    )
