"""The console's one message catalogue: every visible string, in Chinese (the default) and English.

Templates read it as `t.key`; the page script gets the current language's messages embedded in the page and
looks up `t("key")` and `prefix + value` labels (alarm kinds, states, ...). `{name}` marks a value filled in.
Durations and periods that the config sets (`{phone_span}`, `{written_span}`, `{recovery_span}`,
`{retention_days}`) are filled in from the hub's config by `catalogue`, never written into a message.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

MESSAGES: dict[str, dict[str, str]] = {
    # frame
    "app_title": {"zh": "校园技防值守台", "en": "Campus security console"},
    "nav_guard": {"zh": "报警值守", "en": "Alarms"},
    "nav_maintenance": {"zh": "运维", "en": "Maintenance"},
    "nav_reports": {"zh": "报表", "en": "Reports"},
    "switch_lang": {"zh": "English", "en": "中文"},
    "logout": {"zh": "退出登录", "en": "Log out"},
    "connection_lost": {
        "zh": "与中心的连接已断开，正在重连……页面内容可能不是最新的",
        "en": "Connection lost — reconnecting… what you see may be out of date",
    },
    "session_expired": {"zh": "登录已过期，请重新登录", "en": "Your session has ended; please log in again"},
    "done": {"zh": "已完成", "en": "Done"},
    "unit_day": {"zh": "天", "en": "d"},
    "overdue_by": {"zh": "已超时 {span}", "en": "overdue by {span}"},
    # login
    "login_title": {"zh": "登录", "en": "Log in"},
    "login_token": {"zh": "访问令牌", "en": "Access token"},
    "login_submit": {"zh": "登录", "en": "Log in"},
    "login_sound_hint": {
        "zh": "值班员登录后请点击“启用报警声音”，浏览器需要一次点击才允许播放声音。",
        "en": "Guards: after logging in, click “Enable alarm sound”; the browser plays sound only after a click.",
    },
    "login_bad_token": {"zh": "令牌无效", "en": "Unknown token"},
    "login_wait": {"zh": "失败次数过多，请稍后再试", "en": "Too many failed attempts; wait a moment and try again"},
    "login_form_expired": {"zh": "登录表单已过期，请重试", "en": "The login form expired; please try again"},
    "store_unavailable": {
        "zh": "主机存储暂时无法写入（磁盘已满或故障），暂不能登录；报警仍在转发。请通知运维。",
        "en": "The hub cannot write to its store (disk full or failing), so logging in is not possible now;"
        " alarms are still forwarded. Tell maintenance.",
    },
    "store_degraded_banner": {
        "zh": "主机存储已满或故障：只保存报警，遥测数据暂被丢弃。请通知运维。",
        "en": "The hub's store is full or failing: only alarms are stored, telemetry is dropped. Tell maintenance.",
    },
    "forbidden_title": {"zh": "无权访问", "en": "Not allowed"},
    "forbidden_text": {"zh": "您的角色不能使用此页面。", "en": "Your role may not use this page."},
    "forbidden_home": {"zh": "返回我的页面", "en": "Back to my page"},
    # guard
    "sound_enable": {"zh": "点击启用报警声音", "en": "Click to enable alarm sound"},
    "sound_on": {"zh": "报警声音：响铃中", "en": "Alarm sound: ringing"},
    "sound_off": {"zh": "报警声音：已启用", "en": "Alarm sound: ready"},
    "sound_blocked": {"zh": "报警声音：未启用", "en": "Alarm sound: not enabled"},
    "alarm_count": {"zh": "活动报警 {n} 条，未确认 {open} 条", "en": "{n} active alarms, {open} unacknowledged"},
    "no_active_alarms": {"zh": "当前没有活动报警", "en": "No active alarms"},
    "alarm_kind_panic": {"zh": "一键报警", "en": "PANIC"},
    "alarm_kind_fire": {"zh": "火警", "en": "FIRE"},
    "alarm_kind_heat": {"zh": "高温报警", "en": "HEAT"},
    "alarm_kind_electrical_fire": {"zh": "电气火灾报警", "en": "ELECTRICAL FIRE"},
    "alarm_kind_gas": {"zh": "可燃气体报警", "en": "GAS"},
    "alarm_kind_co": {"zh": "一氧化碳报警", "en": "CO"},
    "alarm_kind_intrusion": {"zh": "入侵报警", "en": "INTRUSION"},
    "alarm_state_open": {"zh": "未确认", "en": "Unacknowledged"},
    "alarm_state_acknowledged": {"zh": "已确认", "en": "Acknowledged"},
    "alarm_state_closed": {"zh": "已关闭", "en": "Closed"},
    "raised_at": {"zh": "报警时间 {time}", "en": "Raised {time}"},
    "trigger_count": {"zh": "触发 {n} 次", "en": "Triggered {n} times"},
    "delivery_sent_at": {"zh": "已送达 {time}", "en": "sent {time}"},
    "delivery_receipt": {"zh": "回执 {receipt}", "en": "receipt {receipt}"},
    "delivery_no_receipt": {"zh": "无回执", "en": "no receipt"},
    "delivery_failed": {"zh": "发送失败 {error}", "en": "failed {error}"},
    "delivery_retrying": {"zh": "重试中（第 {n} 次）{error}", "en": "retrying (attempt {n}) {error}"},
    "delivery_sending": {"zh": "发送中", "en": "sending"},
    "delivery_restore": {"zh": "恢复通知", "en": "restore"},
    "delivery_state_pending": {"zh": "发送中", "en": "sending"},
    "delivery_state_delivered": {"zh": "已送达", "en": "delivered"},
    "delivery_state_failed": {"zh": "失败", "en": "failed"},
    "delivery_state_standby": {"zh": "备用", "en": "standby"},
    "delivery_state_cancelled": {"zh": "已取消", "en": "cancelled"},
    "duty_phone": {"zh": "电话报告（{phone_span}）", "en": "Phone report ({phone_span})"},
    "duty_written": {"zh": "书面报告（{written_span}）", "en": "Written report ({written_span})"},
    "duty_met": {"zh": "已于 {time} 完成", "en": "made at {time}"},
    "duty_met_late": {"zh": "已于 {time} 完成（超时）", "en": "made late, at {time}"},
    "duty_waived": {"zh": "无需报告", "en": "not required"},
    "report_record_phone": {"zh": "记录电话报告", "en": "Record phone report"},
    "report_record_written": {"zh": "记录书面报告", "en": "Record written report"},
    "report_by": {"zh": "报告人", "en": "Reported by"},
    "report_needs_by": {"zh": "请填写报告人", "en": "Enter who made the report"},
    "unreadable_line": {
        "zh": "⚠ {device}（{place}）发来无法识别的消息（{reason}），可能是报警，请立即到现场核实",
        "en": "⚠ {device} ({place}) sent a message the hub could not read ({reason}); it may be an alarm: check now",
    },
    "action_dismiss": {"zh": "已核实", "en": "Checked"},
    "reminder_line": {
        "zh": "⚠ {duty} 已超时：{kind} · {device}",
        "en": "⚠ {duty} is overdue: {kind} · {device}",
    },
    "action_ack": {"zh": "确认报警", "en": "Acknowledge"},
    "action_close": {"zh": "关闭报警", "en": "Close alarm"},
    "close_disposition": {"zh": "处置结果…", "en": "Disposition…"},
    "close_note": {"zh": "处置说明（必填）", "en": "What happened (required)"},
    "close_needs": {"zh": "请选择处置结果并填写说明", "en": "Choose a disposition and write a note"},
    "disposition_real": {"zh": "真实警情", "en": "Real"},
    "disposition_drill": {"zh": "演练", "en": "Drill"},
    "disposition_false_alarm": {"zh": "误报", "en": "False alarm"},
    "disposition_fault": {"zh": "设备故障", "en": "Fault"},
    "timeline": {"zh": "时间线", "en": "Timeline"},
    "tl_raised": {"zh": "报警产生 {reason}", "en": "raised {reason}"},
    "tl_trigger": {"zh": "再次触发 {reason}", "en": "triggered again {reason}"},
    "tl_delivered": {"zh": "已送达 {endpoint}", "en": "delivered to {endpoint}"},
    "tl_attempt": {"zh": "发送 {endpoint}：{state}", "en": "sent to {endpoint}: {state}"},
    "tl_ack": {"zh": "{by} 确认", "en": "acknowledged by {by}"},
    "tl_report": {"zh": "{type}（{by}）", "en": "{type} by {by}"},
    "tl_evidence": {"zh": "抓拍 {camera}", "en": "snapshot from {camera}"},
    "tl_closed": {"zh": "{by} 关闭", "en": "closed by {by}"},
    "tl_replay": {"zh": "消息服务器重发（{mark}），未再报警", "en": "sent again by the broker ({mark}), no new alarm"},
    "replay_mark_retained": {"zh": "保留消息", "en": "retained copy"},
    "replay_mark_dup": {"zh": "重复投递", "en": "redelivery"},
    "replay_mark_identity": {"zh": "同一序号与时间", "en": "same seq and time"},
    # maintenance
    "faults_title": {"zh": "故障工单", "en": "Faults"},
    "no_open_faults": {"zh": "没有未关闭的故障", "en": "No open faults"},
    "devices_title": {"zh": "设备", "en": "Devices"},
    "filter_kind": {"zh": "类型", "en": "Kind"},
    "filter_building": {"zh": "楼栋", "en": "Building"},
    "filter_state": {"zh": "状态", "en": "State"},
    "filter_all": {"zh": "全部", "en": "All"},
    "col_device": {"zh": "设备", "en": "Device"},
    "col_kind": {"zh": "类型", "en": "Kind"},
    "col_location": {"zh": "位置", "en": "Location"},
    "col_state": {"zh": "状态", "en": "State"},
    "col_since": {"zh": "自", "en": "Since"},
    "col_battery": {"zh": "电量", "en": "Battery"},
    "col_last_message": {"zh": "最后消息", "en": "Last message"},
    "col_subject": {"zh": "对象", "en": "Subject"},
    "col_starts": {"zh": "开始", "en": "Starts"},
    "col_ends": {"zh": "结束", "en": "Ends"},
    "col_reason": {"zh": "原因", "en": "Reason"},
    "col_by": {"zh": "登记人", "en": "By"},
    "device_kind_panic_button": {"zh": "一键报警按钮", "en": "Panic button"},
    "device_kind_smoke": {"zh": "烟感", "en": "Smoke detector"},
    "device_kind_temperature": {"zh": "温度传感器", "en": "Temperature sensor"},
    "device_kind_camera": {"zh": "摄像机", "en": "Camera"},
    "device_kind_electrical_fire": {"zh": "电气火灾监控探测器", "en": "Electrical fire monitor"},
    "device_kind_gas": {"zh": "可燃气体探测器", "en": "Gas detector"},
    "device_kind_co": {"zh": "一氧化碳探测器", "en": "CO detector"},
    "device_kind_intrusion": {"zh": "入侵探测器", "en": "Intrusion detector"},
    "device_kind_door": {"zh": "门磁", "en": "Door contact"},
    "device_state_unknown": {"zh": "未知", "en": "unknown"},
    "device_state_online": {"zh": "在线", "en": "online"},
    "device_state_offline": {"zh": "离线", "en": "offline"},
    "device_state_faulty": {"zh": "故障", "en": "faulty"},
    "device_state_maintenance": {"zh": "维护中", "en": "in maintenance"},
    "fault_kind_offline": {"zh": "离线", "en": "offline"},
    "fault_kind_tamper": {"zh": "防拆", "en": "tamper"},
    "fault_kind_low_battery": {"zh": "电量低", "en": "low battery"},
    "fault_kind_sensor_trouble": {"zh": "传感器故障", "en": "sensor trouble"},
    "fault_kind_camera_check": {"zh": "图像异常", "en": "picture check"},
    "fault_kind_forwarding_path_down": {"zh": "报警通道中断", "en": "alarm path down"},
    "fault_kind_retention_shortfall": {
        "zh": "录像不足{retention_days}天",
        "en": "recordings short of {retention_days} days",
    },
    "fault_kind_flooding": {"zh": "设备消息异常频繁", "en": "message flood"},
    "fault_kind_inspection": {"zh": "巡检发现", "en": "inspection"},
    "fault_kind_store_degraded": {"zh": "存储故障", "en": "store degraded"},
    "fault_kind_open_circuit": {"zh": "断线故障", "en": "open circuit"},
    "fault_kind_prealarm": {"zh": "预警", "en": "pre-alarm"},
    "zone_armed": {"zh": "布防", "en": "Armed"},
    "zone_disarmed": {"zh": "撤防", "en": "Disarmed"},
    "zone_arm": {"zh": "布防", "en": "Arm"},
    "zone_disarm": {"zh": "撤防", "en": "Disarm"},
    "zone_always_armed": {"zh": "24小时防区", "en": "24-hour zone"},
    "zone_arm_refused": {"zh": "无法布防", "en": "Cannot arm"},
    "zone_open_while_armed": {"zh": "布防中但", "en": "Armed, but"},
    "zones_title": {"zh": "防区布撤防", "en": "Arming zones"},
    "doors_open_title": {"zh": "应关未关的门", "en": "Doors open that must be shut"},
    "zone_manual": {"zh": "{by} 手动", "en": "manual, {by}"},
    "zone_refusal_door": {"zh": "门 {name}（{id}）未关", "en": "door {name} ({id}) is open"},
    "zone_refusal_detector": {"zh": "探测器 {name}（{id}）报警中", "en": "detector {name} ({id}) is in alarm"},
    "prealarm_reading": {
        "zh": "读数 {value} {unit}，预警值 {level} {unit}",
        "en": "{value} {unit}, pre-alarm level {level} {unit}",
    },
    "reading_line": {
        "zh": "读数 {value} {unit}（报警值 {level} {unit}）",
        "en": "reading {value} {unit} (alarm level {level} {unit})",
    },
    "prealarm_line": {"zh": "预警：{device}（{place}）{reading}", "en": "Pre-alarm: {device} ({place}) {reading}"},
    "door_open_line": {
        "zh": "应关闭时段门未关：{device}（{place}）",
        "en": "Open in its shut hours: {device} ({place})",
    },
    "fault_state_registered": {"zh": "已登记", "en": "registered"},
    "fault_state_assigned": {"zh": "已派单", "en": "assigned"},
    "fault_state_in_repair": {"zh": "维修中", "en": "in repair"},
    "fault_state_recovered": {"zh": "已恢复", "en": "recovered"},
    "fault_state_verified": {"zh": "已验证", "en": "verified"},
    "fault_state_closed": {"zh": "已关闭", "en": "closed"},
    "sla_left": {"zh": "{recovery_span}修复时限剩余", "en": "{recovery_span} rule, left:"},
    "sla_breached": {"zh": "已超出{recovery_span}修复时限", "en": "{recovery_span} rule breached"},
    "sla_left_inspection": {"zh": "整改期限剩余", "en": "Deadline, left:"},
    "sla_breached_inspection": {"zh": "已超出整改期限", "en": "Deadline passed"},
    "sla_met": {"zh": "已在时限内恢复", "en": "recovered in time"},
    "opened_at": {"zh": "登记于 {time}", "en": "opened {time}"},
    "due_at": {"zh": "时限 {time}", "en": "due {time}"},
    "assignee": {"zh": "处理人 {name}", "en": "assigned to {name}"},
    "assign_to": {"zh": "处理人", "en": "Assign to"},
    "assign_needs": {"zh": "请填写处理人", "en": "Enter who the fault goes to"},
    "step_note": {"zh": "备注", "en": "Note"},
    "note_needs": {"zh": "请填写备注", "en": "Write the note first"},
    "step_assign": {"zh": "派单", "en": "Assign"},
    "step_start-repair": {"zh": "开始维修", "en": "Start repair"},
    "step_recover": {"zh": "标记恢复", "en": "Mark recovered"},
    "step_verify": {"zh": "验证", "en": "Verify"},
    "step_close": {"zh": "关闭工单", "en": "Close"},
    "step_notes": {"zh": "添加备注", "en": "Add note"},
    "notice_sla_warning": {"zh": "时限预警", "en": "SLA warning"},
    "notice_escalation": {"zh": "超时上报", "en": "Escalation"},
    "notice_retention_warning": {"zh": "录像保存预警", "en": "Retention warning"},
    "notice_broker_dropped": {"zh": "MQTT服务器丢弃了设备消息", "en": "MQTT broker dropped device messages"},
    "broker_dropped_note": {
        "zh": "新增 {new} 条（服务器启动以来共 {dropped} 条），请检查服务器队列上限和本机处理能力",
        "en": "{new} more ({dropped} since the broker started); check its queue limits and whether the hub keeps up",
    },
    "notice_store_degraded": {"zh": "主机存储故障", "en": "Store degraded"},
    "notice_store_recovered": {"zh": "主机存储已恢复", "en": "Store recovered"},
    "cameras_title": {"zh": "摄像机", "en": "Cameras"},
    "cameras_unavailable": {"zh": "暂无摄像机诊断信息", "en": "No camera diagnosis available"},
    "no_snapshot": {"zh": "无抓拍", "en": "no snapshot"},
    "camera_ok": {"zh": "图像正常", "en": "picture OK"},
    "camera_label_healthy": {"zh": "图像正常", "en": "picture OK"},
    "camera_label_no_signal": {"zh": "无视频信号", "en": "no signal"},
    "camera_label_black": {"zh": "黑屏", "en": "black"},
    "camera_label_dark": {"zh": "画面过暗", "en": "too dark"},
    "camera_label_bright": {"zh": "画面过亮", "en": "too bright"},
    "camera_label_blur": {"zh": "图像模糊", "en": "blurred"},
    "camera_label_occlusion": {"zh": "镜头遮挡", "en": "lens covered"},
    "camera_label_frozen": {"zh": "画面冻结", "en": "frozen"},
    "camera_label_color_cast": {"zh": "图像偏色", "en": "colour cast"},
    "camera_label_noise": {"zh": "噪声干扰", "en": "noise"},
    "camera_label_stripes": {"zh": "条纹干扰", "en": "interference stripes"},
    "camera_label_scene_change": {"zh": "画面移位", "en": "view moved"},
    "camera_references": {"zh": "参照画面：{regimes}（采集于 {at}）", "en": "References: {regimes} (taken {at})"},
    "regime_day": {"zh": "白天", "en": "day"},
    "regime_dusk": {"zh": "黄昏", "en": "dusk"},
    "regime_ir": {"zh": "红外夜视", "en": "IR night"},
    "reference_pending": {"zh": "（待下次正常画面时采集）", "en": "(to be taken at the next sound picture)"},
    "action_retake_reference": {"zh": "重新采集参照画面", "en": "Retake reference"},
    "retained_days": {"zh": "录像保存 {days} 天", "en": "recordings: {days} days"},
    "recordings_young": {
        "zh": "新装或新换硬盘，预计 {day} 达到{retention_days}天",
        "en": "new camera or disk: expected to reach {retention_days} days on {day}",
    },
    "override_confirm": {
        "zh": "{why}。设备仍报告故障，仍要标记为已恢复吗？（将记录在审计日志中，系统会继续复核）",
        "en": "{why}. The device still reports the failure; mark it recovered anyway? (Audited; re-checked.)",
    },
    "override_needs_note": {
        "zh": "{why}。如确需标记为已恢复，请先填写说明",
        "en": "{why}. To mark it recovered anyway, write a note first",
    },
    "windows_title": {"zh": "维护计划", "en": "Maintenance windows"},
    "whole_site": {"zh": "全校", "en": "Whole site"},
    "window_add": {"zh": "登记维护计划", "en": "Add window"},
    "window_end": {"zh": "结束 / 取消", "en": "End / cancel"},
    "window_cancelled": {"zh": "（已取消）", "en": "(cancelled)"},
    # reports
    "period_from": {"zh": "从", "en": "From"},
    "period_to": {"zh": "到", "en": "To"},
    "period_group": {"zh": "统计方式", "en": "Group by"},
    "period_show": {"zh": "查询", "en": "Show"},
    "group_device": {"zh": "按设备", "en": "Device"},
    "group_kind": {"zh": "按类型", "en": "Kind"},
    "group_site": {"zh": "全校", "en": "Site"},
    "csv_download": {"zh": "下载 CSV", "en": "Download CSV"},
    "chart_title": {"zh": "每日完好率与未修复故障", "en": "Daily uptime and open faults"},
    "chart_uptime": {"zh": "完好率 %", "en": "Uptime %"},
    "chart_open_faults": {"zh": "未修复故障数", "en": "Open faults"},
    "table_title": {"zh": "完好率明细", "en": "Uptime by row"},
    "col_name": {"zh": "名称", "en": "Name"},
    "col_uptime": {"zh": "完好率 %", "en": "Uptime %"},
    "col_downtime": {"zh": "停机分钟", "en": "Downtime min"},
    "col_faults": {"zh": "故障数", "en": "Faults"},
    "col_mttr": {"zh": "平均修复分钟", "en": "Mean repair min"},
    "col_breaches": {"zh": "超时次数", "en": "SLA breaches"},
    # test mode (测试) and drills (演练): presses recorded, not sent to 110
    "alarm_test_badge": {"zh": "测试", "en": "TEST"},
    "delivery_test": {"zh": "测试信号", "en": "test signal"},
    "alarm_test_note": {
        "zh": "测试期间的按压，已记录，未报送110",
        "en": "Pressed while on test: recorded, not sent to 110",
    },
    "action_make_real": {"zh": "这是真实报警", "en": "This is real"},
    "test_mode_title": {"zh": "测试 / 演练", "en": "Test / drill"},
    "test_mode_none": {"zh": "当前无测试", "en": "Nothing is on test"},
    "test_mode_line": {"zh": "{type}：{scope}，至 {until}（{by}）", "en": "{type}: {scope}, until {until} ({by})"},
    "test_mode_type_test": {"zh": "测试", "en": "Test"},
    "test_mode_type_drill": {"zh": "演练", "en": "Drill"},
    "test_mode_site": {"zh": "全校", "en": "whole site"},
    "test_mode_building": {"zh": "{building} 楼", "en": "building {building}"},
    "test_mode_devices": {"zh": "设备（逗号分隔）", "en": "Devices (comma-separated)"},
    "test_mode_whole_site": {"zh": "全校", "en": "Whole site"},
    "test_mode_minutes": {"zh": "时长（分钟）", "en": "Minutes"},
    "test_mode_note": {"zh": "测试说明", "en": "What is tested"},
    "action_test_start": {"zh": "开始测试", "en": "Start test"},
    "action_test_end": {"zh": "结束测试", "en": "End test"},
    "test_mode_needs_scope": {"zh": "请填写设备或选择全校", "en": "Give devices or choose the whole site"},
    # The rules' "four 100%" items, in their own words (教育部: 专职保安员配备率、封闭化管理率、
    # 一键式紧急报警和视频监控系统与公安机关联网率、护学岗设置率 100%).
    "four_items_title": {"zh": "“四个100%”", "en": "The four 100% items"},
    "four_col_item": {"zh": "项目", "en": "Item"},
    "four_col_figure": {"zh": "情况", "en": "Figure"},
    "four_col_not_recorded": {"zh": "未登记", "en": "Not recorded"},
    "four_item_full_time_guards": {"zh": "专职保安员配备", "en": "Full-time guards"},
    "four_item_closed_campus": {"zh": "封闭化管理", "en": "Closed campus management"},
    "four_item_alarm_video": {
        "zh": "一键式紧急报警和视频监控系统安装联网",
        "en": "One-button alarm and video installed and networked",
    },
    "four_item_guard_posts": {"zh": "护学岗设置", "en": "Guard posts at the gates (护学岗)"},
    "four_met_of_recorded": {
        "zh": "{met} 天达标 / 已登记 {recorded} 天（上学日 {days} 天）",
        "en": "{met} days met / {recorded} recorded ({days} school days)",
    },
    "four_days_not_recorded": {"zh": "{n} 天未登记：{days}", "en": "{n} days not recorded: {days}"},
    "four_alarm_video_figure": {
        "zh": "已安装 {installed} 台，联网 {networked}，完好 {working}（当前）",
        "en": "{installed} installed, {networked} networked, {working} working (now)",
    },
    "four_measured": {"zh": "系统实测", "en": "measured by the hub"},
    "four_items_today": {"zh": "今日“四个100%”登记", "en": "Today's four-items record"},
    "four_guards_on_duty": {"zh": "在岗专职保安员人数", "en": "Full-time guards on duty"},
    "four_gate_closed": {"zh": "校园封闭管理", "en": "Campus kept closed"},
    "four_posts_staffed": {"zh": "护学岗到岗", "en": "Gate guard posts staffed"},
    "four_note": {"zh": "备注", "en": "Note"},
    "four_record": {"zh": "登记", "en": "Record"},
    "four_not_recorded": {"zh": "今日尚未登记", "en": "Not recorded yet today"},
    "four_recorded_by": {"zh": "已由 {name} 于 {time} 登记", "en": "Recorded by {name} at {time}"},
    "notice_four_items_recorded": {"zh": "“四个100%”已登记", "en": "Four items recorded"},
}


def pick_lang(query: str | None, cookie: str | None) -> str:
    """The page language: `?lang=` first, then the `lang` cookie, then Chinese."""
    for choice in (query, cookie):
        if choice in LANGS:
            return choice
    return DEFAULT_LANG


# The config's figures as messages show them when no config is given (the rules' own: 30 min, 1 h, 24 h, 90 days).
RULE_FIGURES = {"phone_minutes": 30.0, "written_minutes": 60.0, "recovery_hours": 24.0, "retention_days": 90.0}


def _number(value: float) -> str:
    return f"{value:g}"


def span_words(minutes: float, lang: str) -> str:
    """A configured duration as people read it: whole hours in hours, the rest in minutes ("1小时", "90 min")."""
    if minutes >= 60 and minutes % 60 == 0 or minutes >= 120:
        hours = _number(round(minutes / 60, 2))
        return f"{hours}小时" if lang == "zh" else f"{hours} h"
    return f"{_number(round(minutes, 1))}分钟" if lang == "zh" else f"{_number(round(minutes, 1))} min"


def config_words(figures: Mapping[str, float], lang: str) -> dict[str, str]:
    """The placeholders of configured durations, in one language."""
    return {
        "phone_span": span_words(figures["phone_minutes"], lang),
        "written_span": span_words(figures["written_minutes"], lang),
        "recovery_span": span_words(figures["recovery_hours"] * 60, lang),
        "retention_days": _number(figures["retention_days"]),
    }


def catalogue(lang: str, figures: Mapping[str, float] | None = None) -> dict[str, str]:
    """Every message in one language (Chinese for an unknown one), with the config's durations filled in
    (`figures` as in RULE_FIGURES; the rules' own when not given)."""
    chosen = lang if lang in LANGS else DEFAULT_LANG
    words = config_words(figures or RULE_FIGURES, chosen)
    out = {}
    for key, texts in MESSAGES.items():
        text = texts[chosen]
        for name, value in words.items():
            text = text.replace("{" + name + "}", value)
        out[key] = text
    return out
