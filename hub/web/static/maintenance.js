/* campus-hub console: the maintenance page (faults and their 24-hour rule, devices, cameras, windows). Runs after console.js. */
(function () {
  "use strict";

  const { boot, body, t, label, h, api, now, pad, siteDay, fromSiteTime, fmtTime, fmtSpan, flash, tick, connectFeed, serial, testModePanel } = window.campusHub;

  // --- maintenance ------------------------------------------------------------------------------------------

  const STEPS = {
    registered: ["assign", "start-repair", "recover"],
    assigned: ["assign", "start-repair", "recover"],
    in_repair: ["assign", "recover"],
    recovered: ["verify"],
    verified: ["close"],
  };

  function faultCard(fault, devices, act) {
    const device = devices.get(fault.subject);
    const running = fault.time_left_s !== null && fault.time_left_s !== undefined;
    // An inspection finding has the deadline its recorder gave, not the recovery rule for equipment failures.
    const inspection = fault.kind === "inspection";
    return h(
      "article",
      { class: "fault state-" + fault.state + (fault.breached ? " breached" : ""), "data-fault-id": fault.id, "data-testid": "fault", "data-sla": running ? "green" : "done" },
      h(
        "div",
        { class: "fault-head" },
        h("span", { class: "subject" }, device ? device.name + " (" + fault.subject + ")" : fault.subject),
        h("span", { class: "fault-kind" }, label("fault_kind_", fault.kind)),
        h("span", { class: "state-badge" }, label("fault_state_", fault.state)),
        running
          ? h("span", { class: "sla" }, t(inspection ? "sla_left_inspection" : "sla_left"), " ", h("span", { class: "countdown", "data-until": fault.due_at, "data-from": fault.opened_at, "data-testid": "fault-countdown" }, ""))
          : h("span", { class: "sla" }, fault.breached ? t(inspection ? "sla_breached_inspection" : "sla_breached") : t("sla_met"))
      ),
      h("div", { class: "fault-sub" }, fault.summary, " · ", t("opened_at", { time: fmtTime(fault.opened_at) }), " · ", t("due_at", { time: fmtTime(fault.due_at) }), fault.assignee ? " · " + t("assignee", { name: fault.assignee }) : ""),
      h(
        "div",
        { class: "actions" },
        h("input", { name: "to", type: "text", "data-keep": "to", placeholder: t("assign_to"), value: fault.assignee || "" }),
        h("input", { name: "note", type: "text", "data-keep": "note", placeholder: t("step_note"), maxlength: 4000 }),
        (STEPS[fault.state] || []).map((step) => h("button", { type: "button", "data-step": step, onclick: () => act(step) }, label("step_", step))),
        h("button", { type: "button", "data-step": "notes", onclick: () => act("notes") }, t("step_notes")),
        h("span", { class: "form-msg", role: "status" })
      )
    );
  }

  function maintenancePage() {
    const data = { devices: [], faults: [], windows: [] };
    const deviceRows = document.getElementById("devices");
    const faultList = document.getElementById("faults");
    const filters = [...document.querySelectorAll("[data-filter]")];
    const notices = document.getElementById("notices");

    function fillOptions(select, values, prefix) {
      const current = select.value;
      const keep = select.firstElementChild;
      select.replaceChildren(keep, ...[...new Set(values)].sort().map((v) => h("option", { value: v }, prefix ? label(prefix, v) : v)));
      select.value = current;
    }

    function renderDevices() {
      const want = Object.fromEntries(filters.map((f) => [f.dataset.filter, f.value]));
      const rows = data.devices.filter(
        (d) => (!want.kind || d.kind === want.kind) && (!want.building || (d.location || {}).building === want.building) && (!want.state || d.state === want.state)
      );
      deviceRows.replaceChildren(
        ...rows.map((d) =>
          h(
            "tr",
            { "data-device-id": d.id, "data-state": d.state, "data-testid": "device" },
            h("td", {}, d.name, h("small", {}, " " + d.id)),
            h("td", {}, label("device_kind_", d.kind)),
            h("td", {}, [d.location.building, d.location.floor, d.location.room].filter(Boolean).join(" · ")),
            h("td", {}, h("span", { class: "badge s-" + d.state, "data-testid": "device-state" }, label("device_state_", d.state)), d.offline_reason ? h("small", {}, " " + d.offline_reason) : null),
            h("td", {}, fmtTime(d.since)),
            h("td", {}, d.battery_pct === null || d.battery_pct === undefined ? "–" : Math.round(d.battery_pct) + "%"),
            h("td", {}, fmtTime(d.last_seen_at))
          )
        )
      );
    }

    async function act(fault, step, card) {
      const msg = card.querySelector(".form-msg");
      const value = (name) => (card.querySelector("[name=" + name + "]") || {}).value.trim();
      const payload = { note: value("note") };
      if (step === "assign") {
        if (!value("to")) return flash(msg, t("assign_needs"), true);
        payload.to = value("to");
      }
      if (step === "notes" && !payload.note) return flash(msg, t("note_needs"), true);
      try {
        await api("POST", "/api/v1/faults/" + fault.id + "/" + step, payload);
        flash(msg, t("done"));
      } catch (error) {
        // The device still reports the failure: recovering it anyway stops nothing (the hub re-checks), but it
        // is the person's word against the device's, so it needs a note and a second, deliberate click.
        if (error.code === "device_not_healthy" && step === "recover" && payload.note && window.confirm(t("override_confirm", { why: error.message }))) {
          try {
            await api("POST", "/api/v1/faults/" + fault.id + "/recover", { ...payload, override: true });
            flash(msg, t("done"));
          } catch (again) {
            flash(msg, again.message, true);
          }
        } else if (error.code === "device_not_healthy" && step === "recover") {
          // Nothing changed on the hub: no reload, which would redraw the card and take the message with it.
          return flash(msg, t("override_needs_note", { why: error.message }), true);
        } else {
          flash(msg, error.message, true);
        }
      }
      reload();
    }

    function renderFaults() {
      const devices = new Map(data.devices.map((d) => [d.id, d]));
      // A redraw (any feed notice brings one) keeps what the person typed and what the card last told them.
      const typing = new Map();
      const told = new Map();
      for (const el of faultList.querySelectorAll("[data-fault-id]")) {
        typing.set(el.dataset.faultId, [...el.querySelectorAll("[data-keep]")].map((f) => [f.dataset.keep, f.value]));
        const msg = el.querySelector(".form-msg");
        if (msg && msg.textContent) told.set(el.dataset.faultId, [msg.textContent, msg.classList.contains("error")]);
      }
      faultList.replaceChildren(
        ...data.faults.map((fault) => {
          const card = faultCard(fault, devices, (step) => act(fault, step, card));
          for (const [name, value] of typing.get(String(fault.id)) || []) {
            const field = card.querySelector("[data-keep=" + name + "]");
            if (field && value) field.value = value;
          }
          const [text, isError] = told.get(String(fault.id)) || [];
          if (text) flash(card.querySelector(".form-msg"), text, isError);
          return card;
        })
      );
      document.getElementById("no-faults").hidden = data.faults.length > 0;
      tick();
    }

    async function endWindow(id) {
      const msg = document.getElementById("window-msg");
      try {
        await api("POST", "/api/v1/maintenance-windows/" + id + "/end");
        flash(msg, t("done"));
      } catch (error) {
        flash(msg, error.message, true);
      }
      reload();
    }

    function renderWindows() {
      document.getElementById("windows").replaceChildren(
        ...data.windows.map((w) => {
          const live = !w.cancelled_at && Date.parse(w.ends_at) > now();
          return h(
            "tr",
            { "data-window-id": w.id },
            h("td", {}, w.subject === "*" ? t("whole_site") : w.subject),
            h("td", {}, fmtTime(w.starts_at)),
            h("td", {}, fmtTime(w.ends_at), w.cancelled_at ? h("small", {}, " " + t("window_cancelled")) : null),
            h("td", {}, w.reason),
            h("td", {}, w.created_by),
            h("td", {}, live ? h("button", { type: "button", onclick: () => endWindow(w.id) }, t("window_end")) : null)
          );
        })
      );
    }

    async function loadCameras() {
      const box = document.getElementById("cameras");
      let cameras = null;
      try {
        const answer = await api("GET", "/api/v1/cameras");
        cameras = Array.isArray(answer) ? answer : (answer && answer.cameras) || [];
      } catch (error) {
        cameras = null; // not offered by this hub (yet): say so instead of failing the page
      }
      document.getElementById("no-cameras").hidden = Boolean(cameras && cameras.length);
      box.replaceChildren(
        ...(cameras || []).map((c) => {
          const recordings = c.recordings || {};
          const labels = c.labels || (c.diagnosis && c.diagnosis.labels) || [];
          return h(
            "figure",
            { class: "camera", "data-camera-id": c.id },
            c.snapshot_url ? h("img", { src: c.snapshot_url, alt: c.id, loading: "lazy" }) : h("div", { class: "no-snapshot" }, t("no_snapshot")),
            h(
              "figcaption",
              {},
              h("strong", {}, c.name || c.id),
              " ",
              labels.length ? labels.map((l) => h("span", { class: "label" }, label("camera_label_", l))) : h("span", { class: "label ok" }, t("camera_ok")),
              h("div", {}, t("retained_days", { days: recordings.retained_days === undefined || recordings.retained_days === null ? "–" : recordings.retained_days })),
              recordings.young ? h("div", { "data-testid": "recordings-young" }, t("recordings_young", { day: recordings.reaches_policy_on })) : null,
              referenceLine(c)
            )
          );
        })
      );
    }

    // The reference pictures the checks compare against (one per light regime) and, after a deliberate change of
    // the view, retaking them (audited on the hub).
    function referenceLine(c) {
      const regimes = (c.references || []).map((r) => label("regime_", r)).join(" · ") || "–";
      const at = c.reference_taken_at ? fmtTime(c.reference_taken_at) : "–";
      const retake = h("button", { type: "button", class: "retake", "data-testid": "retake-reference" }, t("action_retake_reference"));
      const msg = h("span", { class: "msg" });
      retake.addEventListener("click", async () => {
        retake.disabled = true;
        try {
          await api("POST", "/api/v1/cameras/" + encodeURIComponent(c.id) + "/reference");
        } catch (error) {
          retake.disabled = false;
          return flash(msg, String((error && error.message) || error), true);
        }
        loadCameras(); // the new time (or "to be taken") shows as the page redraws
      });
      const pending = c.reference_pending ? " " + t("reference_pending") : "";
      return h("div", { class: "references", "data-testid": "camera-references" }, t("camera_references", { regimes, at }) + pending, " ", retake, " ", msg);
    }

    const reload = serial(async () => {
      const [devices, faults, windows] = await Promise.all([
        api("GET", "/api/v1/devices"),
        api("GET", "/api/v1/faults?state=open&state=recovered&state=verified"),
        api("GET", "/api/v1/maintenance-windows?from=" + encodeURIComponent(new Date(now() - 7 * 86400000).toISOString())),
      ]);
      data.devices = devices.devices;
      data.faults = faults.faults;
      data.windows = windows.maintenance_windows;
      fillOptions(filters[0], data.devices.map((d) => d.kind), "device_kind_");
      fillOptions(filters[1], data.devices.map((d) => (d.location || {}).building).filter(Boolean));
      fillOptions(filters[2], data.devices.map((d) => d.state), "device_state_");
      const subject = document.getElementById("w-subject");
      fillOptions(subject, data.devices.map((d) => d.id));
      renderDevices();
      renderFaults();
      renderWindows();
    });

    filters.forEach((f) => f.addEventListener("change", renderDevices));
    document.getElementById("window-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      const msg = document.getElementById("window-msg");
      try {
        await api("POST", "/api/v1/maintenance-windows", {
          subject: form.subject.value,
          starts_at: fromSiteTime(form.starts_at.value),
          ends_at: fromSiteTime(form.ends_at.value),
          reason: form.reason.value,
        });
        form.reset();
        flash(msg, t("done"));
      } catch (error) {
        flash(msg, error.message, true);
      }
      reload();
    });

    reload();
    loadCameras();
    const testModes = testModePanel(document.getElementById("test-mode"));
    window.setInterval(reload, 60 * 1000);
    connectFeed((notice) => {
      if (notice.kind.startsWith("test_mode_") || notice.kind.startsWith("drill_")) testModes();
      if (["sla_warning", "escalation", "retention_warning", "broker_dropped"].includes(notice.kind)) {
        const d = notice.data || {};
        const note = notice.kind === "broker_dropped" ? t("broker_dropped_note", d) : d.note || d.type || "";
        notices.prepend(h("div", { class: "notice n-" + notice.kind }, fmtTime(notice.at), " ", label("notice_", notice.kind), " · ", d.subject || d.camera_id || "", " ", note));
        notices.hidden = false;
      }
      if (notice.kind.startsWith("camera") || notice.kind === "retention_warning") loadCameras();
      if (!notice.kind.startsWith("alarm_") && !notice.kind.startsWith("duty_")) reload();
    }, () => {
      reload();
      testModes();
    });
  }

  maintenancePage();
})();
