"""The hazard register in the columns of a bureau's hazard ledger (学校安全隐患排查整治台账), as CSV or XLSX.

Dates are the site's calendar days; the CSV starts with a UTF-8 byte order mark so a spreadsheet opened by a double
click reads the Chinese correctly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.styles import Font

from hub.config.site import SiteConfig
from hub.core.clock import from_iso

ExportFormat = Literal["csv", "xlsx"]

COLUMNS = [
    "序号",
    "隐患编号",
    "发现日期",
    "发现人",
    "发现方式",
    "隐患部位",
    "隐患类别",
    "隐患描述",
    "隐患等级",
    "临时管控措施",
    "整改责任人",
    "监督人",
    "整改期限",
    "整改完成日期",
    "验收人",
    "验收日期",
    "销账日期",
    "状态",
    "是否逾期",
]

SEVERITY_ZH = {"general": "一般", "serious": "较大", "major": "重大"}
STATE_ZH = {
    "registered": "已登记",
    "assessed": "已评估",
    "reported": "已报告",
    "monitoring": "监控中",
    "fixed": "已治理",
    "accepted": "已验收",
    "closed": "已销账",
}
SOURCE_ZH = {"person": "日常排查", "inspection": "巡查检查", "fault": "设备故障"}


def hazard_number(hazard_id: int, registered_at: str, site: SiteConfig) -> str:
    """The ledger's number of a hazard: YH-<site-local year>-<id, 4 digits>."""
    return f"YH-{site.local_date(from_iso(registered_at)).year}-{hazard_id:04d}"


def ledger_rows(hazards: Sequence[dict[str, Any]], site: SiteConfig) -> list[list[str]]:
    """One row per hazard, in `COLUMNS` order."""

    def day(value: str | None) -> str:
        return site.local_date(from_iso(value)).isoformat() if value else ""

    return [
        [
            str(n),
            hazard_number(h["id"], h["registered_at"], site),
            day(h["registered_at"]),
            h["found_by"],
            SOURCE_ZH.get(h["source"], h["source"]),
            h["place"],
            h["category"],
            h["summary"],
            SEVERITY_ZH.get(h["severity"] or "", ""),
            h["measures"] or "",
            h["responsible"] or "",
            h["supervisor"] or "",
            h["due"] or "",
            day(h["fixed_at"]),
            h["accepted_by"] or "",
            day(h["accepted_at"]),
            day(h["closed_at"]),
            STATE_ZH.get(h["state"], h["state"]),
            "是" if h["overdue"] else "否",
        ]
        for n, h in enumerate(hazards, start=1)
    ]


def export_csv(rows: Sequence[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_xlsx(rows: Sequence[Sequence[str]], title: str, generated: datetime) -> bytes:
    book = Workbook()
    book.remove(book.worksheets[0])  # the unnamed default sheet
    sheet = book.create_sheet("隐患台账")
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))
    sheet.freeze_panes = "A2"
    book.properties.title = title
    book.properties.created = generated.replace(tzinfo=None)  # openpyxl writes naive times as they are
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
