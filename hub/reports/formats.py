"""The report's forms: compact JSON, CSV for Excel, and the strong ETag that lets a poll be answered with 304."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from hub.reports.build import COLUMNS
from hub.reports.model import Format, Period

REPORT_VERSION = "uptime-3"  # part of every ETag: a new report layout must never be answered with 304
CSV_BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FREE_TEXT = [COLUMNS.index(c) for c in ("key", "name", "building")]  # what the registry's authors wrote


def render_json(report: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; the same report always gives the same bytes (the API and the CLI agree).

    orjson writes a 10,000-device report about eight times faster than the json module, and the same bytes as
    `json.dumps(report, ensure_ascii=False, separators=(",", ":"))` for everything a report holds (tests hold the
    two equal): they differ only on floats below 1e-4, which a report never has (every figure is rounded to at
    most 4 places), and on NaN, which it never has either.
    """
    return orjson.dumps(report, option=orjson.OPT_NON_STR_KEYS)


def render_csv(report: Mapping[str, Any]) -> bytes:
    """A header row and one row per group, UTF-8 with a BOM and CRLF line ends.

    The BOM is for the bureau's Excel: without it Excel on a Chinese-locale Windows opens UTF-8 as GBK and the
    device names come out garbled; Python (`utf-8-sig`), pandas and LibreOffice read it fine.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # csv writes None as an empty cell
    writer.writerow(COLUMNS)
    cells = operator.itemgetter(*COLUMNS)
    for row in report["rows"]:
        values = list(cells(row))
        for i in _FREE_TEXT:
            value = values[i]
            if isinstance(value, str) and value.startswith(_FORMULA_START):
                values[i] = "'" + value  # a name Excel would run as a formula is shown as text
        writer.writerow(values)
    return (CSV_BOM + buffer.getvalue()).encode("utf-8")


def render(report: Mapping[str, Any], fmt: Format) -> bytes:
    return render_csv(report) if fmt == "csv" else render_json(report)


def report_etag(config_digest: str, fingerprint: Sequence[Any], period: Period, group: str, fmt: str) -> str:
    """A strong ETag from what could change the answer: the data's fingerprint, the registry and settings, the
    period and its `as_of` (which moves with the clock only while `to` is in the future), grouping and format."""
    basis = [REPORT_VERSION, config_digest, list(fingerprint), period.as_json(), group, fmt]
    digest = hashlib.sha256(json.dumps(basis, separators=(",", ":"), default=str).encode("utf-8")).hexdigest()
    return f'"{digest[:32]}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes do not matter; '*' matches any."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag.strip() == "*" or tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))
