// The planner's inbox: requests waiting for a decision, overdue first, each with its route on the map and quote;
// approve (offer) or reject with a reason.
(function () {
  "use strict";
  const { t, api, el, problemText, toast } = B;
  const M = BMap.create("map", { zoom: 12, styleMode: "occupancy" });
  const map = M.map;
  window.BEDELAU_MAP = map;
  let route = null;

  async function load() {
    const list = document.getElementById("inbox");
    const rows = await api("GET", "/api/v1/leasing/inbox");
    list.replaceChildren(...(rows.length ? rows.map((r) => BReq.card(r, { showOperator: true, onSelect: open }))
      : [el("p", { class: "muted" }, t("inbox.empty"))]));
    document.getElementById("decision").replaceChildren();
    if (route) { map.removeLayer(route); route = null; }  // a decided request's route leaves with its card
    if (rows.length) open(rows[0], list.firstChild);
  }

  function open(r, cardEl) {
    document.querySelectorAll(".req").forEach((c) => c.setAttribute("aria-selected", String(c === cardEl)));
    if (route) map.removeLayer(route);
    if (r.route) { route = BReq.routeLayer(r.route).addTo(map); map.fitBounds(route.getBounds(), { padding: [40, 40] }); }
    const msg = el("div", { role: "alert" });
    const reason = el("textarea", { id: "reason", name: "reason", rows: 2, minlength: 3, required: true });
    const reject = el("form", { class: "formgrid", "aria-label": t("inbox.reject") },
      el("div", { class: "full" }, el("label", { for: "reason" }, t("inbox.reason")), reason),
      el("div", { class: "full actions" }, el("button", { class: "btn danger", type: "submit" }, t("inbox.reject"))));
    reject.addEventListener("submit", async (e) => {
      e.preventDefault();
      try { await api("POST", `/api/v1/leasing/requests/${r.id}/reject`, { reason: reason.value }); toast(t("inbox.rejected", { ref: r.reference }), "ok"); load(); }
      catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))); }
    });
    const approve = el("button", { class: "btn primary", type: "button", id: "approve" }, t("inbox.approve"));
    approve.addEventListener("click", async () => {
      try { await api("POST", `/api/v1/leasing/requests/${r.id}/approve`); toast(t("inbox.approved", { ref: r.reference }), "ok");
        document.getElementById("decision").replaceChildren(el("p", { class: "alert ok", id: "approved" }, t("inbox.approved", { ref: r.reference })));
        setTimeout(load, 1500); }
      catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))); }
    });
    document.getElementById("decision").replaceChildren(el("div", { class: "card" },
      el("h2", { class: "h3" }, r.reference, " · ", r.operator), ...BReq.quoteRows(r.quote),
      el("div", { class: "actions" }, approve), reject, msg));
  }

  load().catch((err) => toast(problemText(err), "error"));
})();
