/* campus-hub console: the guard's alarms page (sound, acknowledge, close, report duties, timeline). Runs after console.js. */
(function () {
  "use strict";

  const { boot, body, t, label, h, api, now, pad, siteDay, fmtTime, fmtSpan, flash, tick, connectFeed, serial, testModePanel } = window.campusHub;

  // --- guard ------------------------------------------------------------------------------------------------

  const sound = { ctx: null, timer: null, wanted: false };

  function audioContext() {
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (!sound.ctx && Ctor) {
      sound.ctx = new Ctor();
      sound.ctx.onstatechange = updateSound;
    }
    return sound.ctx;
  }

  function beep() {
    const ctx = sound.ctx;
    if (!ctx || ctx.state !== "running") return;
    const start = ctx.currentTime;
    [880, 660].forEach((frequency, i) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + i * 0.3);
      gain.gain.exponentialRampToValueAtTime(0.3, start + i * 0.3 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.3 + 0.28);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start + i * 0.3);
      osc.stop(start + i * 0.3 + 0.3);
    });
  }

  function updateSound() {
    const running = Boolean(sound.ctx && sound.ctx.state === "running");
    const state = !running ? "blocked" : sound.wanted ? "on" : "off";
    body.dataset.sound = state;
    const button = document.getElementById("sound-enable");
    if (button) button.hidden = running;
    const text = document.getElementById("sound-label");
    if (text) text.textContent = t("sound_" + state);
    if (state === "on" && !sound.timer) {
      beep();
      sound.timer = window.setInterval(beep, 1200);
    } else if (state !== "on" && sound.timer) {
      window.clearInterval(sound.timer);
      sound.timer = null;
    }
  }

  function deliveryView(delivery) {
    const event = delivery.event === "restore" ? t("delivery_restore") : delivery.event === "test" ? t("delivery_test") : null;
    const parts = [delivery.endpoint + (event ? " (" + event + ")" : "")];
    const state = delivery.state;
    if (state === "delivered") {
      parts.push(t("delivery_sent_at", { time: fmtTime(delivery.delivered_at) }));
      parts.push(delivery.receipt ? t("delivery_receipt", { receipt: delivery.receipt }) : t("delivery_no_receipt"));
    } else if (state === "failed") {
      parts.push(t("delivery_failed", { error: delivery.last_error || delivery.http_status || "" }));
    } else if (state === "pending") {
      parts.push(delivery.attempts ? t("delivery_retrying", { n: delivery.attempts, error: delivery.last_error || "" }) : t("delivery_sending"));
    } else {
      parts.push(label("delivery_state_", state));
    }
    return h("li", { class: "delivery d-" + state, "data-endpoint": delivery.endpoint, "data-state": state }, parts.join(" · "));
  }

  function timeline(alarm) {
    const rows = [[alarm.raised_at, t("tl_raised", { reason: alarm.reason || "" })]];
    // The first trigger is the one that raised the alarm.
    for (const trig of (alarm.triggers || []).slice(1)) rows.push([trig.at, t("tl_trigger", { reason: trig.reason || "" })]);
    for (const d of alarm.deliveries || []) {
      if (d.delivered_at) rows.push([d.delivered_at, t("tl_delivered", { endpoint: d.endpoint })]);
      else if (d.last_attempt_at) rows.push([d.last_attempt_at, t("tl_attempt", { endpoint: d.endpoint, state: label("delivery_state_", d.state) })]);
    }
    if (alarm.acknowledged_at) rows.push([alarm.acknowledged_at, t("tl_ack", { by: alarm.acknowledged_by || "" })]);
    for (const r of alarm.reports || []) rows.push([r.at, t("tl_report", { type: label("duty_", r.type), by: r.by })]);
    for (const e of alarm.evidence || []) rows.push([e.captured_at, t("tl_evidence", { camera: e.camera_id })]);
    for (const r of alarm.replays || []) rows.push([r.received_at, t("tl_replay", { mark: label("replay_mark_", r.mark) })]);
    if (alarm.closed_at) rows.push([alarm.closed_at, t("tl_closed", { by: alarm.closed_by || "" })]);
    rows.sort((a, b) => Date.parse(a[0]) - Date.parse(b[0]));
    return h(
      "details",
      { class: "timeline" },
      h("summary", {}, t("timeline")),
      h("ol", {}, rows.map(([at, text]) => h("li", {}, h("time", {}, fmtTime(at)), " ", text)))
    );
  }

  function dutyView(alarm, duty, act) {
    let status;
    if (duty.met_at) status = h("span", { class: "met" }, t(duty.late ? "duty_met_late" : "duty_met", { time: fmtTime(duty.met_at) }));
    else if (duty.waived) status = h("span", { class: "waived" }, t("duty_waived"));
    else status = h("span", { class: "countdown", "data-until": duty.due_at, "data-testid": "duty-countdown" }, "");
    return h(
      "div",
      { class: "duty" + (duty.overdue ? " overdue" : ""), "data-duty": duty.type },
      h("span", { class: "duty-name" }, label("duty_", duty.type)),
      status,
      duty.met_at || duty.waived
        ? null
        : h("button", { type: "button", class: "report", onclick: () => act("report", duty.type) }, t("report_record_" + duty.type))
    );
  }

  function alarmCard(alarm, act) {
    const device = alarm.device || {};
    const where = device.location || {};
    const acked = alarm.state === "acknowledged";
    const msg = h("span", { class: "form-msg", role: "status" });
    const actions = acked
      ? h(
          "div",
          { class: "actions close-form" },
          h(
            "select",
            { name: "disposition", "data-keep": "disposition", "aria-label": t("close_disposition") },
            h("option", { value: "" }, t("close_disposition")),
            ["real", "drill", "false_alarm", "fault"].map((d) => h("option", { value: d }, label("disposition_", d)))
          ),
          h("input", { name: "note", type: "text", "data-keep": "note", placeholder: t("close_note"), maxlength: 2000 }),
          h("button", { type: "button", class: "close", onclick: () => act("close") }, t("action_close"))
        )
      : h("div", { class: "actions" }, h("button", { type: "button", class: "ack", onclick: () => act("ack") }, t("action_ack")));
    // A test press: marked 测试, and one click from 110 should it be real after all.
    const real = alarm.test
      ? h(
          "div",
          { class: "actions test-actions" },
          h("span", { class: "test-note" }, t("alarm_test_note")),
          h("button", { type: "button", class: "make-real", "data-testid": "make-real", onclick: () => act("real") }, t("action_make_real"))
        )
      : null;
    return h(
      "article",
      {
        class: "alarm kind-" + alarm.kind + " p" + alarm.priority + " state-" + alarm.state + (alarm.test ? " test" : ""),
        "data-alarm-id": alarm.id,
        "data-state": alarm.state,
        "data-test": alarm.test ? "true" : "false",
        "data-testid": "alarm",
      },
      h(
        "div",
        { class: "alarm-head" },
        h("span", { class: "kind" }, label("alarm_kind_", alarm.kind)),
        alarm.test ? h("span", { class: "test-badge", "data-testid": "test-badge" }, t("alarm_test_badge")) : null,
        h("span", { class: "where" }, [where.building, where.floor, where.room].filter(Boolean).join(" · ")),
        h("span", { class: "state-badge" }, label("alarm_state_", alarm.state))
      ),
      h(
        "div",
        { class: "alarm-sub" },
        h("span", { class: "device" }, (device.name || device.id || "") + (device.id ? " (" + device.id + ")" : "")),
        device.reading && device.reading.unit
          ? h("span", { class: "reading", "data-testid": "reading" }, t("reading_line", { value: device.reading.value, unit: device.reading.unit, level: device.reading.level }))
          : null,
        h("span", { class: "raised" }, t("raised_at", { time: fmtTime(alarm.raised_at) }), " · ", h("span", { class: "elapsed", "data-since": alarm.raised_at }, "")),
        alarm.trigger_count > 1 ? h("span", { class: "triggers" }, t("trigger_count", { n: alarm.trigger_count })) : null
      ),
      h("ul", { class: "deliveries", "data-testid": "deliveries" }, (alarm.deliveries || []).filter((d) => d.event !== "restore").map(deliveryView)),
      (alarm.evidence || []).length
        ? h(
            "div",
            { class: "evidence" },
            alarm.evidence.map((e) =>
              h("a", { href: e.url, target: "_blank", rel: "noopener" }, h("img", { src: e.url, alt: e.camera_id, loading: "lazy" }), h("span", {}, e.camera_id + " " + fmtTime(e.captured_at)))
            )
          )
        : null,
      (alarm.duties || []).length
        ? h(
            "div",
            { class: "duties" },
            h("input", { name: "by", type: "text", "data-keep": "by", value: boot.user || "", "aria-label": t("report_by"), placeholder: t("report_by") }),
            alarm.duties.map((duty) => dutyView(alarm, duty, act))
          )
        : null,
      real,
      actions,
      msg,
      timeline(alarm)
    );
  }

  function guardPage() {
    const list = document.getElementById("alarms");
    const empty = document.getElementById("no-alarms");
    const count = document.getElementById("alarm-count");
    const reminders = document.getElementById("reminders");
    const cards = new Map(); // alarm id -> [json, element]
    let pendingPoll = null;

    document.getElementById("sound-enable").addEventListener("click", () => {
      const ctx = audioContext();
      if (ctx) ctx.resume().then(updateSound, updateSound);
    });
    audioContext();
    updateSound();

    async function act(alarm, what, card, extra) {
      const msg = card.querySelector(".form-msg");
      const value = (name) => (card.querySelector("[name=" + name + "]") || {}).value || "";
      try {
        if (what === "real") {
          // No confirmation dialog: a real emergency must not be one click further from 110.
          await api("POST", "/api/v1/alarms/" + alarm.id + "/real");
        } else if (what === "ack") await api("POST", "/api/v1/alarms/" + alarm.id + "/ack");
        else if (what === "close") {
          if (!value("disposition") || !value("note").trim()) return flash(msg, t("close_needs"), true);
          await api("POST", "/api/v1/alarms/" + alarm.id + "/close", { disposition: value("disposition"), note: value("note").trim() });
        } else if (what === "report") {
          if (!value("by").trim()) return flash(msg, t("report_needs_by"), true);
          await api("POST", "/api/v1/alarms/" + alarm.id + "/reports", { type: extra, by: value("by").trim() });
        }
        flash(msg, t("done"));
      } catch (error) {
        flash(msg, error.message, true);
      }
      reload();
    }

    function render(alarms) {
      const seen = new Set();
      let previous = null;
      for (const alarm of alarms) {
        seen.add(alarm.id);
        const json = JSON.stringify(alarm);
        let entry = cards.get(alarm.id);
        if (!entry || entry[0] !== json) {
          const card = alarmCard(alarm, (what, extra) => act(alarm, what, card, extra));
          if (entry) {
            // Keep what the guard was typing and which parts were open.
            for (const field of entry[1].querySelectorAll("[data-keep]")) {
              const twin = card.querySelector("[data-keep=" + field.dataset.keep + "]");
              if (twin) twin.value = field.value;
            }
            const open = entry[1].querySelector("details.timeline");
            if (open && open.open) card.querySelector("details.timeline").open = true;
            const msg = entry[1].querySelector(".form-msg");
            if (msg) card.querySelector(".form-msg").replaceWith(msg);
            entry[1].replaceWith(card);
          }
          entry = [json, card];
          cards.set(alarm.id, entry);
        }
        const el = entry[1];
        if (previous ? previous.nextSibling !== el : list.firstChild !== el) {
          if (previous) previous.after(el);
          else list.prepend(el);
        }
        previous = el;
      }
      for (const [id, entry] of cards) {
        if (!seen.has(id)) {
          entry[1].remove();
          cards.delete(id);
        }
      }
      empty.hidden = alarms.length > 0;
      const unacked = alarms.filter((a) => a.state === "open").length;
      count.textContent = t("alarm_count", { n: alarms.length, open: unacked });
      sound.wanted = unacked > 0;
      updateSound();
      const overdue = [];
      for (const alarm of alarms) {
        for (const duty of alarm.duties || []) {
          if (duty.overdue) overdue.push(t("reminder_line", { duty: label("duty_", duty.type), kind: label("alarm_kind_", alarm.kind), device: (alarm.device || {}).name || "" }));
        }
      }
      reminders.replaceChildren(...overdue.map((line) => h("div", { class: "reminder" }, line)));
      reminders.hidden = overdue.length === 0;
      tick();
      // The feed says when alarms change; a delivery still in flight is polled until it settles.
      const inFlight = alarms.some((a) => (a.deliveries || []).some((d) => d.state === "pending"));
      window.clearTimeout(pendingPoll);
      if (inFlight) pendingPoll = window.setTimeout(reload, 2000);
    }

    const order = (a, b) => a.priority - b.priority || Date.parse(b.raised_at) - Date.parse(a.raised_at);
    const reload = serial(async () => {
      const [open, acked] = await Promise.all([api("GET", "/api/v1/alarms?state=open"), api("GET", "/api/v1/alarms?state=acknowledged")]);
      render([...open.alarms, ...acked.alarms].sort(order));
    });
    reload();
    // The feed drives the page; a reload every minute as well costs little and bounds any drift.
    window.setInterval(reload, 60 * 1000);
    // A panic button or smoke detector that sent something unreadable: shown until the guard says it was checked.
    const unreadable = document.getElementById("unreadable");
    function showUnreadable(data) {
      const device = data.device || {};
      const where = device.location || {};
      const place = [where.building, where.floor, where.room].filter(Boolean).join(" · ");
      const line = t("unreadable_line", { device: device.name || device.id || "", place, reason: data.reason || "" });
      const item = h("div", { class: "reminder", "data-testid": "unreadable-line" }, line);
      const done = h("button", { type: "button", class: "dismiss" }, t("action_dismiss"));
      done.addEventListener("click", () => {
        item.remove();
        unreadable.hidden = unreadable.childElementCount === 0;
      });
      item.append(" ", done);
      unreadable.prepend(item);
      unreadable.hidden = false;
    }
    // Pre-alarms (maintenance's troubles the guard must see), doors open in their shut hours, and the zones' arming.
    const warnings = document.getElementById("warnings");
    const zonesBox = document.getElementById("zones");
    const zoneList = document.getElementById("zone-list");
    function place(where) {
      return [where.building, where.floor, where.room].filter(Boolean).join(" · ");
    }
    function zoneRow(zone) {
      const msg = h("span", { class: "form-msg", role: "status" });
      // The same reasons the API gives when it refuses an arm, in the console's language.
      const refusals = (zone.contacts || [])
        .filter((c) => c.active)
        .map((c) => t(c.kind === "door" ? "zone_refusal_door" : "zone_refusal_detector", { name: c.name, id: c.device_id }));
      const act = async (what) => {
        try {
          await api("POST", "/api/v1/zones/" + encodeURIComponent(zone.id) + "/" + what);
          reloadWarnings();
        } catch (error) {
          if (error.code === "arm_refused") await reloadWarnings(); // the row comes back naming what is open
          else flash(msg, error.message, true);
        }
      };
      return h(
        "div",
        { class: "zone" + (zone.armed ? " armed" : " disarmed"), "data-zone": zone.id, "data-testid": "zone" },
        h("span", { class: "zone-name" }, zone.name),
        h("span", { class: "zone-state" }, t(zone.armed ? "zone_armed" : "zone_disarmed")),
        zone.always_armed ? h("span", { class: "zone-24h" }, t("zone_always_armed")) : null,
        zone.manual ? h("span", { class: "zone-manual" }, t("zone_manual", { by: zone.manual.by })) : null,
        zone.armed ? null : h("button", { type: "button", class: "arm", onclick: () => act("arm") }, t("zone_arm")),
        zone.armed && !zone.always_armed ? h("button", { type: "button", class: "disarm", onclick: () => act("disarm") }, t("zone_disarm")) : null,
        // Disarmed: why it cannot be armed. Armed (by the schedule) with a door open: the guard should go and look.
        refusals.length
          ? h("span", { class: "zone-refusals", "data-testid": "zone-refusals" }, t(zone.armed ? "zone_open_while_armed" : "zone_arm_refused") + "：" + refusals.join("；"))
          : null,
        msg
      );
    }
    const reloadWarnings = serial(async () => {
      const [zones, pre] = await Promise.all([api("GET", "/api/v1/zones"), api("GET", "/api/v1/prealarms")]);
      const lines = [];
      for (const item of pre.prealarms) {
        const r = item.reading;
        const reading = r ? t("prealarm_reading", { value: r.value, unit: r.unit, level: r.level }) : "";
        lines.push(h("div", { class: "reminder prealarm", "data-testid": "prealarm-line" }, t("prealarm_line", { device: item.device.name, place: place(item.device.location || {}), reading })));
      }
      for (const door of zones.doors_open) {
        lines.push(h("div", { class: "reminder door-open", "data-testid": "door-open-line" }, t("door_open_line", { device: door.name, place: place(door.location || {}) })));
      }
      warnings.replaceChildren(...lines);
      warnings.hidden = lines.length === 0;
      zoneList.replaceChildren(...zones.zones.map(zoneRow));
      zonesBox.hidden = zones.zones.length === 0;
    });
    reloadWarnings();
    // Doors and readings change without an alarm: polled, and reloaded at once when a fault or a zone changes.
    window.setInterval(reloadWarnings, 15 * 1000);
    const testModes = testModePanel(document.getElementById("test-mode"));
    connectFeed((notice) => {
      if (notice.kind.startsWith("test_mode_") || notice.kind.startsWith("drill_")) testModes();
      if (notice.kind === "alarm_device_unreadable") showUnreadable(notice.data || {});
      else if (notice.kind.startsWith("alarm_") || notice.kind.startsWith("duty_")) reload();
      if (notice.kind === "fault" || notice.kind.startsWith("zone_")) reloadWarnings();
    }, () => {
      reload();
      testModes();
      reloadWarnings();
    });
  }

  // The guard room's daily record of the three "four 100%" items the hub cannot measure (today, site time).
  function fourItemsForm() {
    const form = document.getElementById("four-items-form");
    const status = document.getElementById("four-items-status");
    const msg = document.getElementById("four-items-msg");
    const today = siteDay(new Date(now()));
    const show = (day) => {
      status.textContent = day && day.recorded ? t("four_recorded_by", { name: day.recorded_by, time: fmtTime(day.recorded_at) }) : t("four_not_recorded");
      if (day && day.recorded) {
        form.guards_on_duty.value = day.guards_on_duty;
        form.gate_closed.checked = day.gate_closed;
        form.posts_staffed.checked = day.posts_staffed;
        form.note.value = day.note;
      }
    };
    api("GET", "/api/v1/four-items?from=" + today + "&to=" + today)
      .then((items) => show((items.days || []).find((d) => d.day === today)))
      .catch((error) => flash(msg, error.message, true));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const day = await api("POST", "/api/v1/four-items", {
          day: today,
          guards_on_duty: Number(form.guards_on_duty.value),
          gate_closed: form.gate_closed.checked,
          posts_staffed: form.posts_staffed.checked,
          note: form.note.value,
        });
        show(day);
        flash(msg, t("done"));
      } catch (error) {
        flash(msg, error.message, true);
      }
    });
  }

  guardPage();
  fourItemsForm();
})();
