/* campus-hub console, shared part: the page's boot data, messages, DOM and API helpers, live countdowns and the
   feed (SSE). Each page's own script (guard.js, maintenance.js, reports.js) runs after this one and uses
   `window.campusHub`. No dependencies. Every action goes through the API with the session cookie and the
   page's CSRF token. */
(function () {
  "use strict";

  const boot = JSON.parse(document.getElementById("boot").textContent);
  const M = boot.messages;
  const body = document.body;
  const locale = boot.lang === "zh" ? "zh-CN" : "en-GB";
  // Hub time minus this browser's time, so countdowns follow the hub's clock (deadlines are the hub's).
  const skewMs = Date.parse(boot.now) - Date.now();

  function t(key, vars) {
    let text = Object.prototype.hasOwnProperty.call(M, key) ? M[key] : key;
    for (const name in vars || {}) text = text.split("{" + name + "}").join(String(vars[name]));
    return text;
  }
  function label(prefix, value) {
    const key = prefix + value;
    return Object.prototype.hasOwnProperty.call(M, key) ? M[key] : value;
  }

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "class") el.className = value;
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  async function api(method, path, payload) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      options.headers["X-CSRF-Token"] = boot.csrf;
      if (payload !== undefined) {
        options.headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(payload);
      }
    }
    const response = await fetch(path, options);
    if (response.status === 401) {
      window.location.assign("/login");
      throw new Error(t("session_expired"));
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error((data && data.error && data.error.message) || response.statusText);
      error.code = data && data.error ? data.error.code : "http_" + response.status;
      error.status = response.status;
      throw error;
    }
    return data;
  }

  const now = () => Date.now() + skewMs;
  const pad = (n) => String(n).padStart(2, "0");

  // The site's calendar date (YYYY-MM-DD) of a time: days are the site's (site.timezone), not the browser's.
  const dayFormat = new Intl.DateTimeFormat("en-CA", { timeZone: boot.tz, year: "numeric", month: "2-digit", day: "2-digit" });
  const siteDay = (d) => dayFormat.format(d);

  // A wall-clock time typed in a form ("YYYY-MM-DDTHH:MM", datetime-local) read in the site's zone, as an ISO
  // instant: people on the console mean the school's time, whatever zone the browser is set to.
  const wallFormat = new Intl.DateTimeFormat("en-CA", {
    timeZone: boot.tz,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  });
  function wallParts(at) {
    return Object.fromEntries(wallFormat.formatToParts(at).map((x) => [x.type, x.value]));
  }
  function siteWallTime(at) {
    const p = wallParts(at);
    return Date.parse(p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute + ":00Z");
  }
  // A time in full and in the school's time ("YYYY-MM-DD HH:MM"): records are read weeks later, from anywhere.
  function siteStamp(iso) {
    if (!iso) return "–";
    const p = wallParts(new Date(iso));
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
  }
  function fromSiteTime(local) {
    const asUtc = Date.parse(local.slice(0, 16) + ":00Z");
    // Two passes: the zone's offset at the guess, then at the corrected time (right across an offset change).
    let at = asUtc - (siteWallTime(new Date(asUtc)) - asUtc);
    at = asUtc - (siteWallTime(new Date(at)) - at);
    return new Date(at).toISOString();
  }

  function fmtTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    const sameDay = siteDay(new Date(now())) === siteDay(d);
    const options = sameDay
      ? { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZone: boot.tz }
      : { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false, timeZone: boot.tz };
    return d.toLocaleString(locale, options);
  }

  function fmtSpan(seconds) {
    const sign = seconds < 0 ? "-" : "";
    let s = Math.floor(Math.abs(seconds));
    // Hours run past 24 (a 24-hour rule reads best as 23:59:59); days only for long spans.
    const d = s >= 100 * 3600 ? Math.floor(s / 86400) : 0;
    s -= d * 86400;
    const text = pad(Math.floor(s / 3600)) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
    return sign + (d ? d + t("unit_day") + " " : "") + text;
  }

  function flash(el, text, isError) {
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
  }

  /* Live values: every element with data-since counts up, every one with data-until counts down. */
  function tick() {
    const at = now();
    for (const el of document.querySelectorAll("[data-since]")) {
      el.textContent = fmtSpan((at - Date.parse(el.dataset.since)) / 1000);
    }
    for (const el of document.querySelectorAll("[data-until]")) {
      const left = (Date.parse(el.dataset.until) - at) / 1000;
      el.textContent = left >= 0 ? fmtSpan(left) : t("overdue_by", { span: fmtSpan(-left) });
      el.classList.toggle("late", left < 0);
      if (el.dataset.from) {
        const total = (Date.parse(el.dataset.until) - Date.parse(el.dataset.from)) / 1000;
        const share = total > 0 ? Math.max(0, Math.min(1, left / total)) : 0;
        const box = el.closest("[data-sla]");
        if (box) {
          // Amber from the first of sla.warn_at, red from the last (the same moments the hub warns at).
          const warn = boot.warn_at && boot.warn_at.length ? boot.warn_at : [0.5, 0.8];
          const used = 1 - share;
          box.dataset.sla = used < warn[0] ? "green" : warn.length < 2 || used < warn[warn.length - 1] ? "amber" : "red";
          // A continuous hue, green (120) through amber to red (0), as the time runs out.
          box.style.setProperty("--sla-hue", String(Math.round(120 * share)));
        }
      }
    }
  }

  /* The feed: EventSource reconnects by itself (sending Last-Event-ID); the banner shows while it is down, and
     every (re)connect or `resync` reloads the page's data, since notices may have been missed meanwhile. */
  function connectFeed(onNotice, reload) {
    const banner = document.getElementById("banner");
    let source = null;
    const lost = () => {
      banner.hidden = false;
      body.dataset.feed = "lost";
    };
    const open = () => {
      source = new EventSource("/api/v1/feed");
      source.onopen = () => {
        banner.hidden = true;
        body.dataset.feed = "open";
        reload();
      };
      source.onmessage = (message) => {
        const notice = JSON.parse(message.data);
        // The store's state is the frame's business, shown on every page whatever the page does with notices.
        if (notice.kind === "store_degraded" || notice.kind === "store_recovered") {
          document.getElementById("store-banner").hidden = notice.kind === "store_recovered";
        }
        if (notice.kind === "resync") reload();
        else onNotice(notice);
      };
      source.onerror = () => {
        lost();
        // CLOSED means the browser gave up (an error answer, not a dropped line): try again ourselves.
        if (source.readyState === EventSource.CLOSED) {
          source.close();
          window.setTimeout(open, 3000);
        }
      };
    };
    open();
  }

  /* One reload at a time; a request during a reload runs once more after it. */
  function serial(load) {
    let running = false;
    let again = false;
    const run = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          try {
            await load();
          } catch (error) {
            console.error(error);
          }
        } while (again);
      } finally {
        running = false;
      }
    };
    return run;
  }

  window.setInterval(tick, 1000);
  if (boot.role) {
    // A quiet night sends no notices: touch the session now and then, so an open console stays logged in
    // (and, should it have been logged out elsewhere, goes to the login page before the next alarm, not at it).
    window.setInterval(() => api("GET", "/api/v1/session").catch(() => null), 5 * 60 * 1000);
  }
  // What is on test (测试) or being drilled (演练), on the guard's and maintenance's pages; maintenance and admin may
  // start and end a test here. Returns its reload, for the page's feed to call on test_mode_ / drill_ notices.
  function testModePanel(root) {
    const manage = boot.role === "maintenance" || boot.role === "admin";
    const list = h("ul", { class: "test-modes", "data-testid": "test-modes" });
    const msg = h("span", { class: "form-msg", role: "status" });
    root.append(h("h3", {}, t("test_mode_title")), list);
    const reload = serial(async () => {
      const data = await api("GET", "/api/v1/test-mode");
      const rows = data.test_modes.map((w) => {
        const scope = w.site
          ? t("test_mode_site")
          : w.building
            ? t("test_mode_building", { building: w.building })
            : (w.devices || []).join(", ");
        const type = t(w.type === "drill" ? "test_mode_type_drill" : "test_mode_type_test");
        const line = t("test_mode_line", { type, scope, until: fmtTime(w.ends_at), by: w.created_by });
        const end = manage
          ? h("button", { type: "button", class: "test-end", "data-testid": "test-end", onclick: () => stop(w.id) }, t("action_test_end"))
          : null;
        return h("li", { class: "test-mode", "data-window-id": w.id }, line, " ", end);
      });
      list.replaceChildren(...(rows.length ? rows : [h("li", { class: "empty" }, t("test_mode_none"))]));
      // A test ends by itself at its end, with no notice: look again just after the first one ends.
      window.clearTimeout(expiry);
      const ends = data.test_modes.map((w) => Date.parse(w.ends_at) - now());
      if (ends.length) expiry = window.setTimeout(reload, Math.max(0, Math.min(...ends)) + 1000);
    });
    let expiry = null;
    async function stop(id) {
      try {
        await api("DELETE", "/api/v1/test-mode/" + id);
        flash(msg, t("done"));
      } catch (error) {
        flash(msg, error.message, true);
      }
      reload();
    }
    if (manage) {
      const devices = h("input", { name: "test-devices", type: "text", placeholder: t("test_mode_devices"), "aria-label": t("test_mode_devices") });
      const site = h("input", { name: "test-site", type: "checkbox" });
      const minutes = h("input", { name: "test-minutes", type: "number", min: 1, value: 60, "aria-label": t("test_mode_minutes") });
      const note = h("input", { name: "test-note", type: "text", maxlength: 2000, placeholder: t("test_mode_note"), "aria-label": t("test_mode_note") });
      const start = async () => {
        const ids = devices.value.split(",").map((d) => d.trim()).filter(Boolean);
        if (!site.checked && !ids.length) return flash(msg, t("test_mode_needs_scope"), true);
        const until = new Date(now() + Number(minutes.value || 0) * 60000).toISOString();
        const payload = site.checked ? { site: true } : { devices: ids };
        try {
          await api("POST", "/api/v1/test-mode", { ...payload, until, note: note.value.trim() });
          flash(msg, t("done"));
        } catch (error) {
          flash(msg, error.message, true);
        }
        reload();
      };
      root.append(
        h(
          "div",
          { class: "actions test-start-form" },
          devices,
          h("label", {}, site, " ", t("test_mode_whole_site")),
          minutes,
          note,
          h("button", { type: "button", class: "test-start", "data-testid": "test-start", onclick: start }, t("action_test_start"))
        )
      );
    }
    root.append(msg);
    reload();
    return reload;
  }

  window.campusHub = { boot, body, t, label, h, api, now, pad, siteDay, fromSiteTime, siteStamp, fmtTime, fmtSpan, flash, tick, connectFeed, serial, testModePanel };
})();
