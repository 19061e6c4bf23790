"""Hazards over the real API on a real hub: the eight steps signed by three people logged in with their own
accounts, the audit log and the timeline naming each, refused steps, the 一般 shortcut, overdue hazards, escalation
of a fault, and the export read back as a spreadsheet."""

from __future__ import annotations

import csv
import io
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import openpyxl

from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.ledger.export import COLUMNS
from tests.conftest import HubFactory, base_config
from tests.ledger.people import account, ledger_config, person

# 10:00 on 2026-03-02 in Asia/Shanghai.
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_a_hazard_walks_all_eight_steps_signed_by_three_people(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    clock = ManualClock(START)
    # Three people with their own console accounts (the school's safety officer is an admin), logged in by name.
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True, clock=clock)
    zhang, li, wang = (
        account(hub, "zhang-wei", "maintenance"),
        account(hub, "li-na", "maintenance"),
        account(hub, "wang-fang", "admin"),
    )
    with closing(zhang), closing(li), closing(wang):
        # 排查 + 登记: Zhang found it on his round and registers it.
        created = zhang.post(
            "/api/v1/hazards",
            json={"place": "A栋 1层 配电间", "category": "电气", "summary": "配电箱门锁损坏，柜内线路裸露"},
        )
        assert created.status_code == 201, created.text
        hazard = created.json()
        hid = hazard["id"]
        assert (hazard["state"], hazard["found_by"], hazard["registered_by"]) == (
            "registered",
            "zhang-wei",
            "zhang-wei",
        )
        assert hazard["number"] == f"YH-2026-{hid:04d}"
        assert hazard["steps"] == ["assess"]

        # Steps out of order are refused with a stable code, and change nothing.
        early = li.post(f"/api/v1/hazards/{hid}/fix", json={"note": "换锁"})
        assert (early.status_code, early.json()["error"]["code"]) == (409, "bad_step")
        assert li.post(f"/api/v1/hazards/{hid}/close", json={"note": "x"}).json()["error"]["code"] == "bad_step"
        assert li.post(f"/api/v1/hazards/{hid}/destroy", json={}).status_code == 404
        no_grade = wang.post(f"/api/v1/hazards/{hid}/assess", json={"note": "x"})
        assert (no_grade.status_code, no_grade.json()["error"]["code"]) == (422, "invalid_request")
        past = wang.post(
            f"/api/v1/hazards/{hid}/assess", json={"note": "x", "severity": "serious", "due": "2026-03-01"}
        )
        assert past.json()["error"]["code"] == "due_in_past"

        clock.advance(600)
        assessed = wang.post(
            f"/api/v1/hazards/{hid}/assess",
            json={
                "note": "不能立即整改，需更换配电箱",
                "severity": "serious",
                "due": "2026-03-09",
                "responsible": "li-na",
                "supervisor": "wang-fang",
            },
        )
        assert assessed.status_code == 200, assessed.text
        assert (assessed.json()["severity"], assessed.json()["due"]) == ("serious", "2026-03-09")
        # A 较大 hazard is not fixed before it is reported and monitored.
        assert li.post(f"/api/v1/hazards/{hid}/fix", json={"note": "x"}).json()["error"]["code"] == "bad_step"
        clock.advance(600)
        assert wang.post(f"/api/v1/hazards/{hid}/report", json={"note": "已报区教育局"}).status_code == 200
        no_measures = zhang.post(f"/api/v1/hazards/{hid}/monitor", json={"note": "x"})
        assert no_measures.status_code == 422
        clock.advance(600)
        monitored = zhang.post(
            f"/api/v1/hazards/{hid}/monitor", json={"note": "设置围挡", "measures": "围挡隔离，张贴警示，每日巡查"}
        )
        assert monitored.json()["measures"] == "围挡隔离，张贴警示，每日巡查"
        clock.advance(6 * 3600)
        for client in (zhang, li, wang):  # a working day on the console keeps each session alive
            assert client.get("/api/v1/session").status_code == 200
        # Midnight in Asia/Shanghai (16:00 UTC): the fix is dated the 3rd in the ledger, though still the 2nd in UTC.
        clock.advance(7.5 * 3600)
        assert clock.now() == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
        assert li.post(f"/api/v1/hazards/{hid}/fix", json={"note": "更换配电箱与门锁"}).status_code == 200
        # 谁检查，谁签字: the one who fixed it does not accept their own work.
        own = li.post(f"/api/v1/hazards/{hid}/accept", json={"note": "ok"})
        assert (own.status_code, own.json()["error"]["code"]) == (409, "same_person")
        clock.advance(3600)
        assert wang.post(f"/api/v1/hazards/{hid}/accept", json={"note": "验收合格"}).status_code == 200
        clock.advance(600)
        closed = wang.post(f"/api/v1/hazards/{hid}/close", json={"note": "销账"})
        assert closed.status_code == 200
        assert wang.post(f"/api/v1/hazards/{hid}/close", json={"note": "again"}).json()["error"]["code"] == "bad_step"

        final = li.get(f"/api/v1/hazards/{hid}").json()
        assert final["state"] == "closed"
        assert final["overdue"] is False
        signed = [
            (final[f"{s}_by"], final[f"{s}_at"] is not None)
            for s in ("registered", "assessed", "reported", "monitoring", "fixed", "accepted", "closed")
        ]
        assert signed == [
            ("zhang-wei", True),
            ("wang-fang", True),
            ("wang-fang", True),
            ("zhang-wei", True),
            ("li-na", True),
            ("wang-fang", True),
            ("wang-fang", True),
        ]
        timeline = [(e["step"], e["actor"]) for e in final["timeline"]]
        assert timeline == [
            ("register", "zhang-wei"),
            ("assess", "wang-fang"),
            ("report", "wang-fang"),
            ("monitor", "zhang-wei"),
            ("fix", "li-na"),
            ("accept", "wang-fang"),
            ("close", "wang-fang"),
        ]
        times = [e["at"] for e in final["timeline"]]
        assert times == sorted(times)
        assert len(set(times)) == len(times)

        audit = wang.get("/api/v1/audit").json()["audit"]
        rows = [(a["action"], a["actor"], a["target"]) for a in reversed(audit) if a["action"].startswith("hazard.")]
        assert rows == [(f"hazard.{step}", actor, f"hazard:{hid}") for step, actor in timeline]
        assessed_row = next(a for a in audit if a["action"] == "hazard.assess")
        assert assessed_row["detail"]["severity"] == "serious"
        assert assessed_row["detail"]["responsible"] == "li-na"

        # The register as a spreadsheet: the bureau's columns, one row per hazard.
        xlsx = wang.get("/api/v1/hazards/export", params={"format": "xlsx"})
        assert xlsx.status_code == 200
        assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
        sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None
        values = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert values[0] == COLUMNS
        row = dict(zip(COLUMNS, values[1], strict=True))
        assert len(values) == 2
        assert row["隐患编号"] == f"YH-2026-{hid:04d}"
        assert (row["发现日期"], row["发现人"], row["隐患部位"]) == ("2026-03-02", "zhang-wei", "A栋 1层 配电间")
        assert (row["隐患等级"], row["整改责任人"], row["监督人"], row["整改期限"]) == (
            "较大",
            "li-na",
            "wang-fang",
            "2026-03-09",
        )
        assert (row["整改完成日期"], row["验收人"], row["验收日期"], row["销账日期"]) == (
            "2026-03-03",
            "wang-fang",
            "2026-03-03",
            "2026-03-03",
        )
        assert (row["临时管控措施"], row["状态"], row["是否逾期"]) == ("围挡隔离，张贴警示，每日巡查", "已销账", "否")

        exported = wang.get("/api/v1/hazards/export", params={"format": "csv"})
        assert exported.content.startswith(b"\xef\xbb\xbf")
        table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert table[0] == COLUMNS
        assert table[1] == [str(v) for v in values[1]]
        assert wang.get("/api/v1/hazards/export", params={"format": "pdf"}).status_code == 422


def test_roles_shortcut_overdue_and_escalated_fault(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    clock = ManualClock(START)
    hub = start_hub(ledger_config(tmp_path, broker.port), api=True, clock=clock)
    with (
        person(hub, "zhao-gang") as guard,
        person(hub, "zhang-wei") as zhang,
        person(hub, "wang-fang") as wang,
        person(hub, "sun-li") as bureau,
    ):
        # A guard registers what he finds on patrol, but signs no step; the bureau only reads.
        found = guard.post("/api/v1/hazards", json={"place": "东门", "category": "消防", "summary": "消防通道堵塞"})
        assert found.status_code == 201
        hid = found.json()["id"]
        assert guard.post(f"/api/v1/hazards/{hid}/assess", json={}).json()["error"]["code"] == "forbidden"
        assert bureau.post("/api/v1/hazards", json={"place": "x", "category": "x", "summary": "x"}).status_code == 403
        assert bureau.get(f"/api/v1/hazards/{hid}").status_code == 200

        # A 一般 hazard cleared on the spot goes from its assessment straight to 治理.
        wang.post(
            f"/api/v1/hazards/{hid}/assess", json={"note": "当场清理", "severity": "general", "due": "2026-03-02"}
        ).raise_for_status()
        fixed = zhang.post(f"/api/v1/hazards/{hid}/fix", json={"note": "已清理"})
        assert fixed.json()["state"] == "fixed"
        assert fixed.json()["steps"] == ["accept"]

        # A 重大 hazard not fixed by the end of its target day (site time) is overdue.
        major = zhang.post("/api/v1/hazards", json={"place": "B栋", "category": "结构", "summary": "外墙开裂"}).json()
        wang.post(
            f"/api/v1/hazards/{major['id']}/assess", json={"note": "x", "severity": "major", "due": "2026-03-03"}
        ).raise_for_status()
        # 2026-03-03 ends at 16:00 UTC (midnight in Asia/Shanghai).
        end_of_due = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
        clock.advance((end_of_due - clock.now()).total_seconds() - 1)
        assert zhang.get(f"/api/v1/hazards/{major['id']}").json()["overdue"] is False
        clock.advance(2)
        assert zhang.get(f"/api/v1/hazards/{major['id']}").json()["overdue"] is True
        overdue = [h["id"] for h in zhang.get("/api/v1/hazards", params={"state": "assessed"}).json()["hazards"]]
        assert overdue == [major["id"]]

        # An equipment fault escalated into a hazard keeps its link.
        fault = zhang.post("/api/v1/faults", json={"subject": "btn-1", "summary": "按钮外壳破裂"}).json()
        escalated = zhang.post(
            "/api/v1/hazards",
            json={"place": "A栋 1层", "category": "技防设施", "summary": "一键报警按钮损坏", "fault_id": fault["id"]},
        )
        assert (escalated.json()["source"], escalated.json()["fault_id"]) == ("fault", fault["id"])
        missing = zhang.post("/api/v1/hazards", json={"place": "x", "category": "x", "summary": "x", "fault_id": 999})
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "fault_not_found")
