/* campus-hub console: an inspection round on a phone. Pick a plan; each item of this period is checked with one
   tap (ok), or marked as a problem with a note that can open a fault or a hazard at once. Each check is signed by
   the logged-in person (谁检查，谁签字). Runs after console.js. */
(function () {
  "use strict";

  const { t, label, h, api, fmtTime, flash, connectFeed, serial } = window.campusHub;
  const select = document.getElementById("plan");
  const list = document.getElementById("items");

  function itemView(plan, item) {
    const msg = h("span", { class: "form-msg", role: "status" });
    const check = async (result, note, followUp) => {
      try {
        await api("POST", "/api/v1/inspections/plans/" + plan.id + "/checks", {
          item: item.id,
          result,
          note: note || "",
          follow_up: followUp || "none",
        });
      } catch (error) {
        flash(msg, error.message, true);
        return;
      }
      reload();
    };
    const head = h("div", {}, h("div", { class: "what" }, item.what), h("small", {}, item.where));
    if (item.state !== "due") {
      const c = item.check;
      const text = c
        ? label("inspect_state_", item.state) + " · " + c.by + " · " + fmtTime(c.at) + (c.note ? " · " + c.note : "")
        : label("inspect_state_", item.state);
      return h("li", { class: "item", "data-testid": "item", "data-item": item.id, "data-state": item.state }, head, h("div", {}, text));
    }
    const problem = h(
      "form",
      { class: "problem-form", hidden: true, onsubmit: (event) => {
        event.preventDefault();
        const form = event.target;
        check("problem", form.elements.note.value.trim(), form.elements.follow_up.value);
      } },
      h("textarea", { name: "note", required: true, rows: 2, placeholder: t("inspect_problem_note") }),
      h(
        "select",
        { name: "follow_up", "aria-label": t("inspect_follow_up") },
        ["fault", "hazard", "none"].map((f) => h("option", { value: f }, label("inspect_follow_", f)))
      ),
      h("button", { type: "submit", "data-testid": "problem-submit" }, t("inspect_problem_submit"))
    );
    return h(
      "li",
      { class: "item", "data-testid": "item", "data-item": item.id, "data-state": item.state },
      head,
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", class: "ok-btn", "data-testid": "ok", onclick: () => check("ok") }, t("inspect_ok")),
        h("button", { type: "button", class: "problem-btn", "data-testid": "problem", onclick: () => (problem.hidden = false) }, t("inspect_problem"))
      ),
      problem,
      msg
    );
  }

  const reload = serial(async () => {
    const { plans } = await api("GET", "/api/v1/inspections/plans");
    document.getElementById("no-plans").hidden = plans.length > 0;
    const chosen = select.value;
    select.replaceChildren(...plans.map((p) => h("option", { value: p.id }, p.name + " · " + p.current.period)));
    if (chosen && plans.some((p) => String(p.id) === chosen)) select.value = chosen;
    const plan = plans.find((p) => String(p.id) === select.value);
    if (!plan) return list.replaceChildren();
    const c = plan.current;
    document.getElementById("tally").textContent = t("inspect_tally", { done: c.done, planned: c.planned, missed: c.missed, problems: c.problems });
    // Keep a problem note being typed across a reload (a notice from someone else's check).
    const el = document.activeElement;
    const typing = el && list.contains(el) && el.matches("textarea") && el.value;
    if (!typing) list.replaceChildren(...c.items.map((item) => itemView(plan, item)));
  });

  select.addEventListener("change", reload);
  connectFeed((notice) => {
    if (notice.kind === "inspection_check") reload();
  }, reload);
})();
