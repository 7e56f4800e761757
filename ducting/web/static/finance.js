// Finance: pick a month, preview the run (totals by operator), issue, export, record payments, aging, and the
// revenue (PAD) chart.
(function () {
  "use strict";
  const { t, api, fmt, el, problemText, toast, statusBadge } = B;
  const monthInput = document.getElementById("month");
  monthInput.value = fmt.today().slice(0, 7);
  const issueBtn = document.getElementById("issue");
  const msg = document.getElementById("run-msg");
  const orgs = {};

  function table(headers, rows, numeric) {
    return el("table", { class: "grid" }, el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { scope: "col", class: numeric && numeric.includes(i) ? "num" : "" }, h)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) => el("td", { class: numeric && numeric.includes(i) ? "num" : "" }, c))))));
  }

  async function show(month) {
    const run = await api("GET", `/api/v1/billing/runs/${month}`);
    const list = run.invoices_list || [];
    document.getElementById("kpis").replaceChildren(
      kpi(t("fin.invoices"), String(run.invoices)), kpi(t("fin.subtotal"), fmt.idr(run.subtotal_idr)),
      kpi(t("fin.ppn"), fmt.idr(run.ppn_idr)), kpi(t("fin.total"), fmt.idr(run.total_idr)));
    const by = {};
    for (const inv of list) {
      const k = orgs[inv.operator_id] || inv.operator_id;
      by[k] = by[k] || { n: 0, sub: 0, ppn: 0, total: 0 };
      by[k].n += 1; by[k].sub += +inv.subtotal_idr; by[k].ppn += +inv.ppn_idr; by[k].total += +inv.total_idr;
    }
    document.getElementById("by-operator").replaceChildren(Object.keys(by).length ? table(
      [t("fin.operator"), t("fin.invoices"), t("fin.subtotal"), t("fin.ppn"), t("fin.total")],
      Object.entries(by).map(([k, v]) => [k, String(v.n), fmt.idr(v.sub), fmt.idr(v.ppn), fmt.idr(v.total)]), [1, 2, 3, 4])
      : el("p", { class: "muted" }, t("common.none")));
    document.getElementById("invoices").replaceChildren(list.length ? table(
      [t("inv.number"), t("fin.operator"), t("panel.state"), t("fin.total"), t("fin.paid"), "", t("fin.payments")],
      list.map((inv) => [inv.number || t("fin.draft_no"), orgs[inv.operator_id] || String(inv.operator_id), invoiceBadge(inv),
        fmt.idr(inv.total_idr), fmt.idr(inv.paid_idr),
        el("a", { href: `/api/v1/billing/invoices/${inv.id}/pdf`, class: "btn", download: "", "data-invoice": inv.number || inv.id }, t("inv.pdf")),
        inv.number ? paymentForm(inv) : ""]), [3, 4]) : el("p", { class: "muted" }, t("common.none")));
    const issued = list.some((i) => i.number);
    if (issueBtn) issueBtn.disabled = issued || !list.length;
    const base = `/api/v1/billing/runs/${month}`;
    document.getElementById("exports").replaceChildren(...[["CSV", "invoices.csv"], [t("fin.lines_csv"), "lines.csv"],
      ["XLSX", "run.xlsx"], ["e-Faktur XML", "efaktur.xml"], ["PDF (zip)", "invoices.zip"]].map(([label, file]) =>
      el("a", { class: "btn", href: `${base}/${file}`, download: "" }, label)));
  }

  // an issued invoice with some money in is shown as partly paid (the books keep it `issued` until it is settled)
  function invoiceBadge(inv) { return statusBadge(inv.status === "issued" && Number(inv.paid_idr) > 0 ? "partially_paid" : inv.status); }

  function kpi(label, value) { return el("div", { class: "kpi" }, el("div", { class: "l" }, label), el("div", { class: "v" }, value)); }

  function paymentForm(inv) {
    const id = `pay-${inv.id}`;
    const f = el("form", { class: "pay", "aria-label": t("fin.payments") + " " + inv.number },
      el("label", { for: id + "-a", class: "sr-only" }, t("fin.amount")), el("input", { id: id + "-a", name: "amount", type: "number", min: 1, step: 1, placeholder: t("fin.amount"), required: true, size: 10 }),
      el("label", { for: id + "-d", class: "sr-only" }, t("fin.paid_on")), el("input", { id: id + "-d", name: "paid_on", type: "date", value: fmt.today(), required: true }),
      el("label", { for: id + "-r", class: "sr-only" }, t("fin.reference")), el("input", { id: id + "-r", name: "reference", placeholder: t("fin.reference"), required: true, size: 8 }),
      el("button", { class: "btn", type: "submit" }, "+"));
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      try { await api("POST", `/api/v1/billing/invoices/${inv.id}/payments`, { amount_idr: f.amount.value, paid_on: f.paid_on.value, reference: f.reference.value });
        toast(t("fin.payment_saved", { number: inv.number }), "ok"); show(monthInput.value); aging(); revenue(); }
      catch (err) { toast(problemText(err), "error"); }
    });
    return f;
  }

  document.getElementById("month-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.replaceChildren();
    try {
      if (issueBtn) await api("POST", "/api/v1/billing/runs", { month: monthInput.value });
      await show(monthInput.value);
      revenue().catch((err) => toast(problemText(err), "error"));
    } catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))); }
  });
  if (issueBtn) {
    const box = document.getElementById("confirm");
    issueBtn.addEventListener("click", () => {
      document.getElementById("confirm-text").textContent = t("fin.confirm_issue", { month: monthInput.value });
      box.hidden = false; document.getElementById("confirm-yes").focus();
    });
    document.getElementById("confirm-no").addEventListener("click", () => { box.hidden = true; issueBtn.focus(); });
    document.getElementById("confirm-yes").addEventListener("click", async () => {
      box.hidden = true;
      try { await api("POST", `/api/v1/billing/runs/${monthInput.value}/issue`, {});
        await show(monthInput.value);  // the numbered invoices first, then the message that says so
        msg.replaceChildren(el("p", { class: "alert ok", id: "issued" }, t("fin.issued", { month: monthInput.value })));
        aging(); revenue(); }
      catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))); }
    });
  }

  async function aging() {
    const rows = await api("GET", "/api/v1/billing/aging");
    const keys = ["current", "d1_30", "d31_60", "d61_90", "d90_plus", "total"];
    document.getElementById("aging").replaceChildren(rows.length ? table([t("fin.operator"), ...keys.map((k) => t("aging." + k))],
      rows.map((r) => [r.operator, ...keys.map((k) => fmt.idr(r[k]))]), keys.map((_, i) => i + 1)) : el("p", { class: "muted" }, t("common.none")));
  }

  // The revenue (PAD) dashboard for the year of the chosen month: billed revenue by operator, kecamatan or product,
  // the city's retribution share, the next twelve months projected from leases and pending requests, and occupancy.
  const PALETTE = ["#0b5394", "#0f7a5a", "#f08c00", "#862e9c", "#c92a2a", "#5c940d", "#1098ad", "#495057", "#d6336c", "#74b816"];
  const charts = {};
  const sum = (rows, k) => rows.reduce((n, r) => n + Number(r[k] || 0), 0);
  const millions = (v) => t("fin.millions", { n: fmt.num(v / 1e6, { decimals: 1, trim: true }) });

  function barChart(id, labels, datasets) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart(document.getElementById(id), { type: "bar", data: { labels, datasets },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: (v) => (Math.abs(v) >= 1e6 ? millions(v) : fmt.idr(v)) } } },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fmt.idr(c.parsed.y)}` } } } } });
  }

  async function revenue() {
    const year = (monthInput.value || fmt.today()).slice(0, 4);
    const by = document.getElementById("pad-by").value;
    const q = `from=${year}-01&to=${year}-12&by=${by}`;
    document.getElementById("pad-year").textContent = year;
    document.getElementById("pad-csv").href = `/api/v1/billing/revenue.csv?${q}`;
    const data = await api("GET", `/api/v1/billing/revenue?${q}`);
    const projected = sum(data.projection, "total_idr");
    document.getElementById("pad-kpis").replaceChildren(
      kpi(t("fin.pad_billed_year", { year }), fmt.idr(sum(data.revenue, "revenue_idr"))),
      kpi(t("fin.pad_retribusi"), fmt.idr(sum(data.revenue, "retribusi_idr"))),
      kpi(t("fin.pad_next12"), fmt.idr(projected)),
      kpi(t("fin.pad_leased_share"), occupancyShare(data.occupancy)));
    const months = Array.from({ length: 12 }, (_, i) => `${year}-${String(i + 1).padStart(2, "0")}`);
    const keys = [...new Set(data.revenue.map((r) => r[by]))];
    barChart("revenue-chart", months.map((m) => m.slice(5)), keys.map((k, i) => ({ label: labelFor(by, k, data.occupancy), backgroundColor: PALETTE[i % PALETTE.length],
      data: months.map((m) => sum(data.revenue.filter((r) => r.month === m && r[by] === k), "revenue_idr")) })));
    barChart("projection-chart", data.projection.map((p) => p.month), [
      { label: t("fin.pad_from_leases"), backgroundColor: "#0b5394", data: data.projection.map((p) => +p.leases_idr) },
      { label: t("fin.pad_from_requests"), backgroundColor: "#f08c00", data: data.projection.map((p) => +p.pending_requests_idr) }]);
    document.getElementById("pad-occupancy").replaceChildren(data.occupancy.length ? table(
      [t("fin.kecamatan"), t("fin.pad_capacity_km"), t("fin.pad_leased_km"), t("fin.pad_leased_share")],
      data.occupancy.map((o) => [o.nama, fmt.km(o.capacity_m), fmt.km(o.leased_m),
        fmt.pct(o.occupancy_pct, { decimals: 1 })]), [1, 2, 3]) : el("p", { class: "muted" }, t("common.none")));
    document.getElementById("pad").dataset.loaded = year;
  }

  function occupancyShare(rows) {
    const cap = sum(rows, "capacity_m"), used = sum(rows, "leased_m");
    return cap ? fmt.pct(100 * used / cap, { decimals: 2, trim: true }) : "–";
  }
  function labelFor(by, key, occupancy) {
    if (by === "kecamatan") { const k = occupancy.find((o) => o.kecamatan === key); return key === "-" ? t("fin.no_kecamatan") : k ? k.nama : key; }
    if (by === "product") return t("size." + key) !== "size." + key ? t("size." + key) : key;
    return key;
  }
  document.getElementById("pad-by").addEventListener("change", () => revenue().catch((err) => toast(problemText(err), "error")));

  api("GET", "/api/v1/organisations").then((list) => { for (const o of list) orgs[o.id] = o.code; })
    .then(() => show(monthInput.value)).catch((err) => msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))));
  aging().catch(() => {});
  revenue().catch((err) => toast(problemText(err), "error"));
})();
