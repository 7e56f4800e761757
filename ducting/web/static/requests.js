// Capacity requests as cards and their routes on a map: shared by the operator, the leases page and the inbox.
(function () {
  "use strict";
  const { t, fmt, el, statusBadge } = B;

  function quoteRows(q) {
    if (!q) return [];
    if (q.available === false) return [el("p", { class: "alert warn" }, t("op.no_quote", { why: q.reason || "" }))];
    const dl = el("dl", { class: "kv" });
    const add = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, v));
    add(t("op.annual"), `${fmt.idr(q.annual_total_idr)} + ${t("op.ppn")} ${fmt.idr(q.annual_ppn_idr)}`);
    add(t("op.first_month"), fmt.idr(q.first_month_idr));
    add(t("op.one_time"), fmt.idr(q.one_time_fees_idr));
    if (q.term_total_with_ppn_idr) add(t("op.term_total"), el("strong", {}, fmt.idr(q.term_total_with_ppn_idr)));
    return [dl];
  }

  function card(r, opts) {
    opts = opts || {};
    const c = el("article", { class: "req", tabindex: "0", "data-ref": r.reference, "aria-selected": "false" },
      el("div", { class: "top" }, el("strong", {}, r.reference), statusBadge(r.status)),
      el("dl", { class: "kv" },
        opts.showOperator ? [el("dt", {}, t("inbox.operator")), el("dd", {}, r.operator)] : [],
        el("dt", {}, t("op.length")), el("dd", {}, fmt.m(r.route_length_m)),
        el("dt", {}, t("op.subducts")), el("dd", {}, `${r.subduct_count} × ${t("size." + r.size_class)}`),
        el("dt", {}, t("inbox.period")), el("dd", {}, `${fmt.date(r.first_day)} – ${fmt.date(r.last_day)}`),
        r.due_at ? [el("dt", {}, t("op.due")), el("dd", { class: r.overdue ? "overdue" : "" }, fmt.dateTime(r.due_at), r.overdue ? ` · ${t("inbox.overdue")}` : "")] : [],
        r.hold_expires_at && ["submitted", "offered"].includes(r.status) ? [el("dt", {}, t("op.hold")), el("dd", {}, fmt.dateTime(r.hold_expires_at))] : [],
        r.quote && r.quote.annual_total_idr ? [el("dt", {}, t("op.annual")), el("dd", {}, fmt.idr(r.quote.annual_total_idr))] : [],
        r.pks_number ? [el("dt", {}, "PKS"), el("dd", {}, r.pks_number)] : [],
        r.reason ? [el("dt", {}, t("inbox.reason")), el("dd", {}, r.reason)] : []));
    if (opts.onSelect) {
      c.addEventListener("click", () => opts.onSelect(r, c));
      c.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); opts.onSelect(r, c); } });
    }
    return c;
  }

  function routeLayer(geometry) {
    return L.geoJSON(geometry, { style: { color: "#7048e8", weight: 7, opacity: 0.85 }, pmIgnore: true });
  }

  window.BReq = { card, quoteRows, routeLayer };
})();
