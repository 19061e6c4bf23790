/* campus-hub console: the ledger page (incidents with their report duties, the hazard register and its signed
   steps, the test and drill log, the monthly safety report). Runs after console.js. The bureau's view has no forms:
   it reads only. */
(function () {
  "use strict";

  const { boot, t, label, h, api, now, siteDay, fromSiteTime, siteStamp, fmtTime, flash, tick, connectFeed, serial } = window.campusHub;
  const role = boot.role;
  const records = role === "guard" || role === "admin";
  const signs = role === "maintenance" || role === "admin";

  function formData(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      out[el.name] = el.type === "checkbox" ? el.checked : el.value.trim();
    }
    return out;
  }

  // --- incidents --------------------------------------------------------------------------------------------

  function dutyView(incident, duty, msg) {
    let status;
    if (duty.met_at) status = h("span", { class: "met" }, t(duty.late ? "duty_met_late" : "duty_met", { time: fmtTime(duty.met_at) }));
    else status = h("span", { class: "countdown", "data-until": duty.due_at, "data-testid": "duty-countdown" }, "");
    const report = async () => {
      try {
        await api("POST", "/api/v1/incidents/" + incident.id + "/reports", { type: duty.type, by: boot.user });
        flash(msg, t("done"));
      } catch (error) {
        flash(msg, error.message, true);
      }
      reload();
    };
    return h(
      "div",
      { class: "duty" + (duty.overdue ? " overdue" : ""), "data-duty": duty.type },
      h("span", { class: "duty-name" }, label("duty_", duty.type)),
      status,
      !duty.met_at && records ? h("button", { type: "button", class: "report", onclick: report }, t("report_record_" + duty.type)) : null
    );
  }

  function incidentCard(incident) {
    const msg = h("span", { class: "form-msg", role: "status" });
    const rows = incident.timeline.map((e) =>
      h("li", {}, h("time", {}, fmtTime(e.at)), " ", t("incident_tl_" + e.what) + (e.by ? " · " + e.by : ""))
    );
    const close = async (form) => {
      try {
        await api("POST", "/api/v1/incidents/" + incident.id + "/close", { note: form.elements.note.value.trim() });
      } catch (error) {
        flash(msg, error.message, true);
      }
      reload();
    };
    const closeForm =
      records && incident.state === "open"
        ? h(
            "form",
            { class: "actions", onsubmit: (event) => (event.preventDefault(), close(event.target)) },
            h("input", { name: "note", required: true, maxlength: 2000, placeholder: t("incident_close_note") }),
            h("button", { type: "submit" }, t("incident_close"))
          )
        : null;
    return h(
      "article",
      { class: "incident state-" + incident.state, "data-testid": "incident", "data-incident-id": incident.id },
      h(
        "div",
        { class: "incident-head" },
        h("span", { class: "kind" }, label("incident_kind_", incident.kind)),
        h("span", { class: "where" }, incident.place),
        h("time", {}, fmtTime(incident.occurred_at)),
        incident.police_called ? h("span", { class: "police" }, t("incident_police")) : null
      ),
      h("p", { class: "summary" }, incident.summary),
      incident.people ? h("p", { class: "people" }, t("incident_people") + "：" + incident.people) : null,
      h("div", { class: "duties" }, incident.duties.map((d) => dutyView(incident, d, msg))),
      closeForm,
      msg,
      h("details", { class: "timeline" }, h("summary", {}, t("timeline")), h("ol", {}, rows))
    );
  }

  // --- hazards ----------------------------------------------------------------------------------------------

  function stepForm(hazard, msg) {
    if (!signs || !hazard.steps.length) return null;
    const extra = h("span", { class: "step-extra" });
    const select = h(
      "select",
      { name: "step", "aria-label": t("hazard_step") },
      hazard.steps.map((s) => h("option", { value: s }, label("hazard_step_", s)))
    );
    const fields = () => {
      extra.replaceChildren();
      if (select.value === "assess") {
        extra.append(
          h(
            "select",
            { name: "severity", "aria-label": t("hazard_severity") },
            ["general", "serious", "major"].map((s) => h("option", { value: s }, label("severity_", s)))
          ),
          h("input", { name: "due", type: "date", required: true, "aria-label": t("hazard_due") }),
          h("input", { name: "responsible", placeholder: t("hazard_responsible") }),
          h("input", { name: "supervisor", placeholder: t("hazard_supervisor") })
        );
      } else if (select.value === "monitor") {
        extra.append(h("input", { name: "measures", required: true, placeholder: t("hazard_measures") }));
      }
    };
    select.addEventListener("change", fields);
    fields();
    const submit = async (form) => {
      const data = formData(form);
      const step = data.step;
      delete data.step;
      for (const key of Object.keys(data)) if (data[key] === "") delete data[key];
      try {
        await api("POST", "/api/v1/hazards/" + hazard.id + "/" + step, data);
        flash(msg, t("done"));
      } catch (error) {
        flash(msg, error.message, true);
      }
      reload();
    };
    return h(
      "form",
      { class: "step-form", "data-testid": "hazard-step", onsubmit: (event) => (event.preventDefault(), submit(event.target)) },
      select,
      extra,
      h("input", { name: "note", placeholder: t("hazard_note") }),
      h("button", { type: "submit" }, t("hazard_sign"))
    );
  }

  function hazardRow(hazard) {
    const msg = h("span", { class: "form-msg", role: "status" });
    const steps = hazard.timeline.map((e) =>
      h("li", {}, h("time", {}, fmtTime(e.at)), " ", label("hazard_step_", e.step) + " · " + e.actor + (e.note ? " · " + e.note : ""))
    );
    return h(
      "tr",
      { "data-testid": "hazard", "data-hazard-id": hazard.id, "data-state": hazard.state },
      h("td", {}, hazard.number),
      h("td", {}, hazard.place),
      h("td", {}, hazard.category),
      h("td", {}, hazard.summary, hazard.measures ? h("div", {}, h("small", {}, t("hazard_measures") + "：" + hazard.measures)) : null),
      h("td", { class: hazard.severity ? "sev-" + hazard.severity : "" }, hazard.severity ? label("severity_", hazard.severity) : "–"),
      h("td", { class: hazard.overdue ? "overdue" : "" }, hazard.due || "–", hazard.overdue ? " " + t("hazard_overdue") : ""),
      h("td", { class: "state" }, label("hazard_state_", hazard.state)),
      h(
        "td",
        {},
        stepForm(hazard, msg),
        msg,
        h("details", { class: "timeline" }, h("summary", {}, t("timeline")), h("ol", {}, steps))
      )
    );
  }

  function typingIn(container) {
    const el = document.activeElement;
    return Boolean(el && container.contains(el) && el.matches("input, textarea") && el.value);
  }

  // --- alarms, as the bureau reads them -------------------------------------------------------------------

  function alarmRow(alarm) {
    const duties = alarm.duties.map((d) =>
      h(
        "span",
        { class: "duty" + (d.overdue ? " overdue" : ""), "data-duty": d.type },
        label("duty_", d.type),
        " ",
        d.met_at
          ? h("span", { class: "met" }, t(d.late ? "duty_met_late" : "duty_met", { time: fmtTime(d.met_at) }))
          : d.waived
            ? h("span", { class: "waived" }, t("duty_waived"))
            : h("span", { class: "countdown", "data-until": d.due_at, "data-testid": "duty-countdown" }, "")
      )
    );
    return h(
      "tr",
      { "data-testid": "bureau-alarm", "data-alarm-id": alarm.id },
      h("td", {}, label("alarm_kind_", alarm.kind)),
      h("td", {}, alarm.place),
      h("td", {}, fmtTime(alarm.raised_at)),
      h("td", {}, label("alarm_state_", alarm.state)),
      h("td", {}, alarm.disposition ? label("disposition_", alarm.disposition) : "–"),
      h("td", { class: "duties" }, duties)
    );
  }

  // --- the test and drill log (测试与演练记录) ------------------------------------------------------------------

  function scopeOf(w) {
    if (w.site) return t("test_mode_site");
    if (w.building) return t("test_mode_building", { building: w.building });
    return (w.devices || []).join(", ");
  }

  function resultRow(r) {
    const place = r.location ? [r.location.building, r.location.floor, r.location.room].filter(Boolean).join(" ") : "–";
    const presses = r.alarms.map((a) => siteStamp(a.raised_at)).join(", ");
    return h(
      "tr",
      { "data-testid": "test-log-result", "data-device-id": r.device_id, "data-result": r.result },
      h("td", {}, r.name ? r.name + " (" + r.device_id + ")" : r.device_id),
      h("td", {}, place),
      h("td", { class: r.result === "seen" ? "seen" : "not-seen" }, label("test_log_result_", r.result), presses ? " · " + presses : "")
    );
  }

  function testLogEntry(w) {
    const drill = w.type === "drill";
    const summary = w.summary
      ? [h("p", {}, w.summary), h("small", {}, t("test_log_summary_by", { by: w.summary_by, time: siteStamp(w.summary_at) }))]
      : [h("p", { class: "empty" }, t("test_log_no_summary"))];
    return h(
      "article",
      { class: "test-log-entry type-" + w.type, "data-testid": "test-log-entry", "data-window-id": w.id, "data-type": w.type },
      h(
        "div",
        { class: "test-log-head" },
        h("span", { class: "kind" }, t(drill ? "test_mode_type_drill" : "test_mode_type_test")),
        h("span", { class: "scope" }, t("test_log_scope") + "：" + scopeOf(w))
      ),
      h("p", { "data-testid": "test-log-started" }, t("test_log_started", { by: w.created_by, from: siteStamp(w.starts_at), to: siteStamp(w.ends_at) })),
      w.ended_by ? h("p", {}, t("test_log_ended_early", { by: w.ended_by, time: siteStamp(w.ended_at) })) : null,
      w.note ? h("p", {}, t("test_log_note") + "：" + w.note) : null,
      drill ? h("div", { class: "drill-plan", "data-testid": "drill-plan" }, h("h4", {}, t("test_log_plan")), h("p", {}, w.plan || "–")) : null,
      drill ? h("div", { class: "drill-summary", "data-testid": "drill-summary" }, h("h4", {}, t("test_log_summary")), summary) : null,
      h(
        "table",
        { class: "test-log-results" },
        h("thead", {}, h("tr", {}, h("th", {}, t("test_log_device")), h("th", {}, t("test_log_place")), h("th", {}, t("test_log_result")))),
        h("tbody", {}, w.results.map(resultRow))
      )
    );
  }

  const testLogForm = document.getElementById("test-log-form");
  const dayAfter = (day) => new Date(Date.parse(day + "T00:00:00Z") + 86400000).toISOString().slice(0, 10);
  // The period is of the school's days: from the first day's midnight to the midnight after the last, site time.
  testLogForm.elements.to.value = siteDay(new Date(now()));
  testLogForm.elements.from.value = siteDay(new Date(now() - 30 * 86400000));
  const reloadTestLog = serial(async () => {
    const { from, to } = testLogForm.elements;
    const msg = testLogForm.querySelector(".form-msg");
    if (from.value > to.value) return flash(msg, t("test_log_period_bad"), true);
    const query = "?from=" + encodeURIComponent(fromSiteTime(from.value + "T00:00")) + "&to=" + encodeURIComponent(fromSiteTime(dayAfter(to.value) + "T00:00"));
    try {
      const log = await api("GET", "/api/v1/test-log" + query);
      // Newest first, as the other registers on this page.
      const entries = log.entries.slice().sort((a, b) => Date.parse(b.starts_at) - Date.parse(a.starts_at));
      document.getElementById("test-log").replaceChildren(...entries.map(testLogEntry));
      document.getElementById("no-test-log").hidden = entries.length > 0;
    } catch (error) {
      flash(msg, error.message, true);
    }
  });
  testLogForm.addEventListener("submit", (event) => {
    event.preventDefault();
    reloadTestLog();
  });
  reloadTestLog();

  // --- the page ---------------------------------------------------------------------------------------------

  const reload = serial(async () => {
    const [incidents, hazards] = await Promise.all([api("GET", "/api/v1/incidents"), api("GET", "/api/v1/hazards")]);
    const list = document.getElementById("incidents");
    // Keep what someone is typing in an open form across a reload (a notice from someone else's action).
    if (!typingIn(list)) list.replaceChildren(...incidents.incidents.map(incidentCard));
    document.getElementById("no-incidents").hidden = incidents.incidents.length > 0;
    const rows = document.getElementById("hazards");
    if (!typingIn(rows)) rows.replaceChildren(...hazards.hazards.slice().reverse().map(hazardRow));
    const alarmRows = document.getElementById("bureau-alarms");
    if (alarmRows) {
      const { alarms } = await api("GET", "/api/v1/bureau/alarms");
      alarmRows.replaceChildren(...alarms.map(alarmRow));
    }
    tick();
  });

  function bindForm(id, submit) {
    const form = document.getElementById(id);
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const msg = form.querySelector(".form-msg");
      try {
        await submit(formData(form));
        form.reset();
        flash(msg, t("done"));
      } catch (error) {
        flash(msg, error.message, true);
      }
      reload();
    });
  }

  bindForm("incident-form", (data) => {
    if (data.occurred_at) data.occurred_at = new Date(data.occurred_at).toISOString();
    else delete data.occurred_at;
    return api("POST", "/api/v1/incidents", data);
  });
  bindForm("hazard-form", (data) => api("POST", "/api/v1/hazards", data));

  const monthly = document.getElementById("monthly-form");
  if (monthly) {
    const url = (format) => "/api/v1/reports/monthly?month=" + encodeURIComponent(monthly.elements.month.value) + "&format=" + format + "&lang=" + boot.lang;
    const last = new Date(window.campusHub.now());
    last.setDate(0); // the last day of the previous month: the report due by the 5th
    monthly.elements.month.value = last.getFullYear() + "-" + String(last.getMonth() + 1).padStart(2, "0");
    const csv = document.getElementById("monthly-csv");
    const sync = () => (csv.href = url("csv"));
    monthly.elements.month.addEventListener("change", sync);
    sync();
    monthly.addEventListener("submit", (event) => {
      event.preventDefault();
      window.open(url("html"), "_blank", "noopener");
    });
  }

  connectFeed(
    (notice) => {
      if (/^(incident_|hazard_|inspection_|escalation)/.test(notice.kind)) reload();
      if (/^(test_mode_|drill_|alarm_opened)/.test(notice.kind)) reloadTestLog();
    },
    () => (reload(), reloadTestLog())
  );
})();
