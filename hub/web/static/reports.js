/* campus-hub console: the reports page (uptime table, CSV link, daily chart). Runs after console.js. */
(function () {
  "use strict";

  const { boot, body, t, label, h, api, now, pad, siteDay, fmtTime, fmtSpan, flash, tick, connectFeed, serial } = window.campusHub;

  // --- reports ----------------------------------------------------------------------------------------------

  function chart(days) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = (tag, attrs, ...children) => {
      const el = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
      children.forEach((c) => el.append(c instanceof Node ? c : document.createTextNode(String(c))));
      return el;
    };
    const W = 1200;
    const H = 320;
    const left = 56;
    const right = 56;
    const top = 16;
    const bottom = 48;
    const plotW = W - left - right;
    const plotH = H - top - bottom;
    const maxFaults = Math.max(1, ...days.map((d) => d.open_faults));
    const slot = plotW / Math.max(1, days.length);
    const y = (pct) => top + plotH * (1 - pct / 100);
    const yf = (n) => top + plotH * (1 - n / maxFaults);
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart-svg", role: "img", "aria-label": t("chart_title") });
    for (const pct of [0, 25, 50, 75, 100]) {
      root.append(svg("line", { x1: left, x2: W - right, y1: y(pct), y2: y(pct), class: "grid" }));
      root.append(svg("text", { x: left - 8, y: y(pct) + 5, "text-anchor": "end", class: "axis" }, pct + "%"));
    }
    for (const n of [0, Math.ceil(maxFaults / 2), maxFaults]) {
      root.append(svg("text", { x: W - right + 8, y: yf(n) + 5, class: "axis faults-axis" }, n));
    }
    const every = Math.ceil(days.length / 15);
    days.forEach((d, i) => {
      const x = left + i * slot;
      const pct = d.uptime_pct === null ? null : d.uptime_pct;
      if (pct !== null) {
        root.append(
          svg("rect", { x: x + slot * 0.15, y: y(pct), width: slot * 0.7, height: plotH - (y(pct) - top), class: "bar" + (pct < 99 ? " low" : ""), "data-day": d.day }, svg("title", {}, d.day + ": " + pct.toFixed(2) + "%"))
        );
      }
      if (i % every === 0) root.append(svg("text", { x: x + slot / 2, y: H - bottom + 20, "text-anchor": "middle", class: "axis" }, d.day.slice(5)));
    });
    const points = days.map((d, i) => left + i * slot + slot / 2 + "," + yf(d.open_faults)).join(" ");
    if (days.length) root.append(svg("polyline", { points, class: "faults-line" }));
    days.forEach((d, i) => root.append(svg("circle", { cx: left + i * slot + slot / 2, cy: yf(d.open_faults), r: 4, class: "faults-dot" }, svg("title", {}, d.day + ": " + d.open_faults))));
    const legend = svg("g", { class: "legend" });
    legend.append(svg("rect", { x: left, y: H - 18, width: 14, height: 14, class: "bar" }));
    legend.append(svg("text", { x: left + 20, y: H - 6, class: "axis" }, t("chart_uptime")));
    legend.append(svg("line", { x1: left + 220, x2: left + 246, y1: H - 11, y2: H - 11, class: "faults-line" }));
    legend.append(svg("text", { x: left + 252, y: H - 6, class: "axis" }, t("chart_open_faults")));
    root.append(legend);
    return root;
  }

  function reportsPage() {
    const form = document.getElementById("period");
    const msg = document.getElementById("period-msg");
    // Dates go to the hub as dates: it reads them as the site's days (site.timezone), `to` included.
    const today = siteDay(new Date(now()));
    const back = new Date(today + "T12:00:00Z");
    back.setUTCDate(back.getUTCDate() - 29);
    form.to.value = today;
    form.from.value = back.toISOString().slice(0, 10);
    const num = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));

    const load = serial(async () => {
      const query = "from=" + encodeURIComponent(form.from.value) + "&to=" + encodeURIComponent(form.to.value);
      const group = form.group.value;
      document.getElementById("csv").href = "/api/v1/reports/uptime?" + query + "&group=" + group + "&format=csv";
      try {
        const [report, daily] = await Promise.all([api("GET", "/api/v1/reports/uptime?" + query + "&group=" + group), api("GET", "/api/v1/reports/daily?" + query)]);
        const s = report.summary;
        document.getElementById("summary").replaceChildren(
          h("div", { class: "figure" }, h("span", {}, t("col_uptime")), h("strong", { "data-testid": "uptime-pct" }, s.uptime_pct === null ? "–" : num(s.uptime_pct, 2) + "%")),
          h("div", { class: "figure" }, h("span", {}, t("col_faults")), h("strong", {}, s.faults)),
          h("div", { class: "figure" }, h("span", {}, t("col_mttr")), h("strong", {}, num(s.mttr_min, 1))),
          h("div", { class: "figure" }, h("span", {}, t("col_breaches")), h("strong", {}, s.sla_breaches))
        );
        const f = s.four_items;
        const share = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%");
        const recorded = (item) => t("four_met_of_recorded", { met: f[item].met_days, recorded: f[item].recorded_days, days: f[item].school_days });
        const missing = f.not_recorded.length ? t("four_days_not_recorded", { n: f.not_recorded.length, days: f.not_recorded.join(", ") }) : "–";
        const av = f.alarm_video.combined;
        document.getElementById("four-items-rows").replaceChildren(
          h("tr", { "data-item": "full_time_guards" }, h("td", {}, t("four_item_full_time_guards")), h("td", {}, recorded("full_time_guards")), h("td", {}, missing)),
          h("tr", { "data-item": "closed_campus" }, h("td", {}, t("four_item_closed_campus")), h("td", {}, recorded("closed_campus")), h("td", {}, missing)),
          h(
            "tr",
            { "data-item": "alarm_video" },
            h("td", {}, t("four_item_alarm_video")),
            h("td", {}, t("four_alarm_video_figure", { installed: av.installed, networked: share(av.networked_share), working: share(av.working_share) })),
            h("td", {}, t("four_measured"))
          ),
          h("tr", { "data-item": "guard_posts" }, h("td", {}, t("four_item_guard_posts")), h("td", {}, recorded("guard_posts")), h("td", {}, missing))
        );
        document.getElementById("uptime-rows").replaceChildren(
          ...report.rows.map((r) =>
            h(
              "tr",
              {},
              h("td", {}, r.name),
              h("td", {}, r.kind ? label("device_kind_", r.kind) : "–"),
              h("td", {}, num(r.uptime_pct, 2)),
              h("td", {}, num(r.downtime_min, 1)),
              h("td", {}, r.faults),
              h("td", {}, num(r.mttr_min, 1)),
              h("td", {}, r.sla_breaches),
              h("td", {}, r.current_state ? label("device_state_", r.current_state) : "–")
            )
          )
        );
        document.getElementById("chart").replaceChildren(chart(daily.days));
        flash(msg, "");
      } catch (error) {
        flash(msg, error.message, true);
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    load();
    connectFeed((notice) => {
      if (notice.kind === "fault" || notice.kind === "device_state") load();
    }, load);
  }

  reportsPage();
})();
