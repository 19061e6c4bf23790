"""Uptime reports for the bureau, computed from state-transition intervals (never by scanning raw messages).

Pure functions, in modules by subject; `hub.store.reports` does the reading:

- `model`: the period (`resolve_period`, `PeriodError`, `period_bound` for dates as site-local days, `site_days`,
  `previous_site_day`), registry entries, planned maintenance windows.
- `counting`: the interval arithmetic (`intervals`, `tally`, `uptime`, and `tally_rows`, the one linear pass over
  time-ordered transitions a report makes), planned windows and hub gaps per device.
- `fault_figures`: fault figures (`fault_stats`).
- `build`: the report itself (`build_report`) from `ReportInputs`.
- `four_items`: the rules' four items under their own names (`alarm_video` measured, three recorded daily).
- `formats`: its JSON and CSV forms and its ETag.
- `publisher`: the daily MQTT summary (`uptime_summary`) and the schedule that publishes it (`UptimePublisher`).

Every public name is re-exported here, so `from hub.reports import X` works for all of them.

Definitions (also sent in every report under `definitions`):

- A device's state before its first transition is `unknown`. Counting stops at `as_of`, the earlier of `to`
  and now rounded down to the minute (the future is not counted; the minute makes the answer, and so its ETag,
  stable between polls).
- Working (`uptime_pct`) counts only `online` time. `faulty` (tamper, low battery, a failed camera check) is
  networked but not working: a camera reporting a fault is not doing its job. Networked counts online + faulty.
- Excluded from the counted period (the denominator): `unknown` time always (not yet monitored: the hub had not
  heard from the device and had not waited 3 heartbeat intervals to judge it); and with
  `reports.exclude_maintenance` (the default) time in the `maintenance` state and offline/faulty time inside a
  planned maintenance window. Online time inside a window still counts as working, so registering a window can
  never lower a figure; without the switch, windows change nothing and `maintenance` time is downtime.
- Not monitored (`unmonitored_min`): time the hub itself was not running (`hub_gaps`, recorded by
  `hub.health.liveness` on start), whatever `reports.exclude_maintenance` says. No state is guessed for it: it is left
  out of every device's counted time and reported on its own, so counted + excluded + not monitored = period.
- Downtime = counted period - working time.
- Faults: those opened in the period; time to recover = recovered_at - opened_at, where a fault still open at
  the period's end (or recovered after it) counts to the end. SLA breaches: faults whose deadline fell in the
  period and that were not recovered by it, or whose breach was recorded. Maintenance windows change no fault,
  recovery or breach figure: a breach stays a breach. Nor do hub gaps: a fault's clock runs while the hub is
  down (its time to recover is real time), and a deadline that passed during a gap is a breach.
"""

from hub.reports.build import (
    COLUMNS,
    DEFINITIONS,
    INSTALLED_NOTE,
    RETENTION_NOTE,
    ReportInputs,
    alarm_video,
    build_report,
    retention_compliance,
)
from hub.reports.counting import (
    STATES,
    Tally,
    Uptime,
    intervals,
    merge_spans,
    planned_spans,
    state_index,
    state_index_sql,
    tally,
    tally_rows,
    unmonitored_spans,
    uptime,
)
from hub.reports.fault_figures import FaultRecord, FaultStats, fault_stats
from hub.reports.formats import CSV_BOM, REPORT_VERSION, etag_matches, render, render_csv, render_json, report_etag
from hub.reports.four_items import GuardRoomDay, four_items, school_days_in
from hub.reports.model import (
    DEFAULT_DAYS,
    MAX_DAYS,
    SITE_WIDE,
    DeviceInfo,
    Format,
    Group,
    MaintenanceWindow,
    Period,
    PeriodError,
    Span,
    period_bound,
    previous_site_day,
    resolve_period,
    site_days,
)
from hub.reports.publisher import Publish, UptimePublisher, uptime_summary

__all__ = [
    "COLUMNS",
    "CSV_BOM",
    "DEFAULT_DAYS",
    "DEFINITIONS",
    "DeviceInfo",
    "FaultRecord",
    "FaultStats",
    "Format",
    "Group",
    "INSTALLED_NOTE",
    "MAX_DAYS",
    "MaintenanceWindow",
    "Period",
    "PeriodError",
    "Publish",
    "REPORT_VERSION",
    "RETENTION_NOTE",
    "ReportInputs",
    "SITE_WIDE",
    "STATES",
    "Span",
    "Tally",
    "Uptime",
    "UptimePublisher",
    "build_report",
    "etag_matches",
    "fault_stats",
    "four_items",
    "GuardRoomDay",
    "alarm_video",
    "school_days_in",
    "intervals",
    "merge_spans",
    "planned_spans",
    "period_bound",
    "previous_site_day",
    "render",
    "render_csv",
    "render_json",
    "report_etag",
    "resolve_period",
    "retention_compliance",
    "site_days",
    "state_index",
    "state_index_sql",
    "tally",
    "tally_rows",
    "unmonitored_spans",
    "uptime",
    "uptime_summary",
]
