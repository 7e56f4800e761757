// Migration cases on the compliance page: how many cases each kecamatan has at each SJUT stage (from the
// dashboard), and the cases themselves, each with one button to its next step for planners and admins. A step the
// API refuses (out of order, a date before the previous step) is said at the case, redrawn as it now stands.
(function () {
  "use strict";
  const { t, api, fmt, el, problemText, toast } = B;
  const manager = BEDELAU.role === "planner" || BEDELAU.role === "admin";
  // the order of ducting.compliance.vocab.MigrationStage: pulled into the duct, cut-over, aerial cable removed
  const STAGES = ["planned", "pulled_into_duct", "cut_over", "aerial_removed"];
  const DATE_OF = { pulled_into_duct: "pulled_on", cut_over: "cut_over_on", aerial_removed: "removed_on" };
  const board = document.getElementById("mig-dashboard"), list = document.getElementById("mig-list");
  const map = window.BEDELAU_MAP;
  const spans = L.featureGroup();  // the cases' aerial spans, on the map while this tab is open
  const SPAN_STYLE = { color: "#e8590c", weight: 6, opacity: 0.85 };
  const kecamatan = {};  // kode → nama, from the dashboard
  let loaded = false;

  const stageBadge = (stage) => el("span", { class: "badge mig-" + stage }, t("comp.mig.stage." + stage));

  function dashboardTable(rows) {
    const withCases = rows.filter((k) => STAGES.some((s) => k.migrations_by_stage[s]));
    if (!withCases.length) return el("p", { class: "muted" }, t("comp.mig.none"));
    const total = (k) => STAGES.reduce((n, s) => n + (k.migrations_by_stage[s] || 0), 0);
    const sums = STAGES.map((s) => withCases.reduce((n, k) => n + (k.migrations_by_stage[s] || 0), 0));
    const cell = (n) => el("td", { class: "num" + (n ? "" : " muted") }, String(n || 0));
    return el("table", { class: "grid small mig-board" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("comp.mig.kecamatan")),
        STAGES.map((s) => el("th", { scope: "col", class: "num", title: t("comp.mig.stage." + s) }, t("comp.mig.short." + s))),
        el("th", { scope: "col", class: "num" }, t("comp.mig.total")))),
      el("tbody", {}, withCases.map((k) => el("tr", { "data-kecamatan": k.kode }, el("th", { scope: "row" }, k.nama),
        STAGES.map((s) => cell(k.migrations_by_stage[s])), el("td", { class: "num" }, el("strong", {}, String(total(k))))))),
      el("tfoot", {}, el("tr", {}, el("th", { scope: "row" }, t("comp.mig.total")), sums.map(cell),
        el("td", { class: "num" }, el("strong", {}, String(sums.reduce((a, b) => a + b, 0)))))));
  }

  async function advance(c, to, on, msg) {
    try {
      const r = await api("POST", `/api/v1/compliance/migrations/${c.id}/advance`, { to, on });
      toast(t("comp.mig.advanced", { id: c.id, stage: t("comp.mig.stage." + r.stage) }), "ok");
      await load();
    } catch (err) {
      // the case may have moved behind this page: redraw it as it stands and keep the refusal on it
      const text = problemText(err);
      if (err.status >= 400 && err.status < 500 && err.status !== 401) await load({ id: c.id, text });
      else msg.replaceChildren(el("p", { class: "alert error" }, text));
    }
  }

  function caseCard(c, refused) {
    const msg = el("div", { role: "alert" }, refused ? el("p", { class: "alert error" }, refused) : null);
    const done = (stage) => c[DATE_OF[stage]] ? fmt.date(c[DATE_OF[stage]]) : "–";
    const card = el("article", { class: "req mig", "data-case": String(c.id), "data-stage": c.stage },
      el("div", { class: "top" }, el("strong", {}, `${c.operator} · ${t("comp.mig.span", { id: c.span_id })}`), stageBadge(c.stage)),
      el("dl", { class: "kv" },
        el("dt", {}, t("comp.mig.case")), el("dd", {}, "#" + c.id),
        el("dt", {}, t("comp.mig.kecamatan")), el("dd", {}, kecamatan[c.kecamatan_kode] || c.kecamatan_kode || "–"),
        el("dt", {}, t("comp.mig.length")), el("dd", {}, fmt.m(c.length_m)),
        STAGES.slice(1).flatMap((s) => [el("dt", {}, t("comp.mig.stage." + s)), el("dd", {}, done(s))]),
        c.flag_id ? [el("dt", {}, t("comp.mig.flag")), el("dd", {}, "#" + c.flag_id)] : [],
        c.capacity_request_id ? [el("dt", {}, t("comp.mig.request")), el("dd", {}, "#" + c.capacity_request_id)] : []));
    const next = c.closed_on ? null : STAGES[STAGES.indexOf(c.stage) + 1];
    if (c.closed_on) {  // a survey showed the cable gone before it went into the duct: no step follows
      card.querySelector(".top .badge").replaceWith(stageBadge("closed"));
      card.dataset.stage = "closed";
      card.append(el("p", { class: "muted small" }, t("comp.mig.closed", { on: fmt.date(c.closed_on), reason: c.closed_reason || "" })));
    } else if (manager && next) {
      const id = `mig-on-${c.id}`;
      const on = el("input", { id, type: "date", value: fmt.today(), required: true });
      const go = el("button", { class: "btn primary", type: "button", onclick: () => {
        if (!on.value) { on.reportValidity(); return; }
        go.disabled = true;
        advance(c, next, on.value, msg).finally(() => { go.disabled = false; });
      } }, t("comp.mig.advance", { stage: t("comp.mig.stage." + next) }));
      card.append(el("div", { class: "actions advance" }, el("label", { for: id }, t("comp.mig.on")), on, go));
    } else if (!next && !c.closed_on) {
      card.append(el("p", { class: "muted small" }, t("comp.mig.done")));
    }
    card.append(msg);
    if (c.geometry) {
      const layer = L.geoJSON(c.geometry, { style: SPAN_STYLE }).addTo(spans);
      layer.bindTooltip(`#${c.id} · ${c.operator} · ${t("comp.mig.stage." + c.stage)}`);
      const open = () => {
        list.querySelectorAll(".req").forEach((x) => x.setAttribute("aria-selected", String(x === card)));
        map.fitBounds(layer.getBounds(), { maxZoom: 18, padding: [60, 60] });
      };
      layer.on("click", () => { open(); card.scrollIntoView({ block: "nearest" }); });
      card.setAttribute("tabindex", "0");
      card.addEventListener("click", (e) => { if (!e.target.closest("button, input, label")) open(); });
      card.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === card) { e.preventDefault(); open(); } });
    }
    return card;
  }

  // A city-wide programme has thousands of cases: the list comes a page at a time, filtered by stage and kecamatan.
  const PAGE = 200;
  const stageFilter = document.getElementById("mig-stage"), kecFilter = document.getElementById("mig-kecamatan");
  const moreBox = document.getElementById("mig-more");
  let shown = [];

  function casesUrl(offset) {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (stageFilter.value) q.set("stage", stageFilter.value);
    if (kecFilter.value) q.set("kecamatan", kecFilter.value);
    return "/api/v1/compliance/migrations?" + q;
  }

  function fillKecamatan(rows) {
    const keep = kecFilter.value;
    kecFilter.replaceChildren(el("option", { value: "" }, t("comp.mig.all_kecamatan")),
      ...rows.filter((k) => STAGES.some((s) => k.migrations_by_stage[s])).map((k) => el("option", { value: k.kode }, k.nama)));
    kecFilter.value = [...kecFilter.options].some((o) => o.value === keep) ? keep : "";
  }

  function showMore(full) {
    moreBox.replaceChildren(full ? el("button", { class: "btn", type: "button", id: "mig-more-btn", onclick: more },
      t("comp.mig.more")) : []);
  }

  async function more() {
    let page;
    try { page = await api("GET", casesUrl(shown.length)); }
    catch (err) { toast(problemText(err), "error"); return; }
    shown = shown.concat(page);
    list.append(...page.map((c) => caseCard(c, null)));
    list.dataset.loaded = String(shown.length);
    map.getContainer().dataset.migrationSpans = String(spans.getLayers().length);
    showMore(page.length === PAGE);
  }

  async function load(refused) {
    let dash, cases;
    try {
      [dash, cases] = await Promise.all([api("GET", "/api/v1/compliance/dashboard"), api("GET", casesUrl(0))]);
    } catch (err) { list.replaceChildren(el("p", { class: "alert warn" }, problemText(err))); return; }
    for (const k of dash.kecamatan) kecamatan[k.kode] = k.nama;
    board.replaceChildren(dashboardTable(dash.kecamatan));
    fillKecamatan(dash.kecamatan);
    spans.clearLayers();
    shown = cases;
    list.replaceChildren(...(cases.length ? cases.map((c) => caseCard(c, refused && refused.id === c.id ? refused.text : null))
      : [el("p", { class: "muted" }, t("comp.mig.none"))]));
    if (refused && !cases.some((c) => c.id === refused.id)) toast(refused.text, "error");
    // open cases city-wide, from the dashboard's counts (the list may be one page of them)
    const open = dash.kecamatan.reduce((n, k) => n + STAGES.slice(0, 3).reduce((m, s) => m + (k.migrations_by_stage[s] || 0), 0), 0);
    document.getElementById("tab-mig").textContent = `${t("comp.mig.tab")} (${open})`;
    list.dataset.loaded = String(cases.length);
    list.dataset.filter = `${stageFilter.value}|${kecFilter.value}`;  // what the list shows (tests wait on it)
    map.getContainer().dataset.migrationSpans = String(spans.getLayers().length);
    showMore(cases.length === PAGE);
  }

  stageFilter.replaceChildren(el("option", { value: "" }, t("comp.mig.all_stages")),
    ...STAGES.map((s) => el("option", { value: s }, t("comp.mig.stage." + s))));
  for (const box of [stageFilter, kecFilter]) box.addEventListener("change", async () => {
    await load();
    if (spans.getLayers().length) map.fitBounds(spans.getBounds(), { maxZoom: 17, padding: [40, 40] });
  });

  document.addEventListener("comp:tab", async (e) => {
    if (e.detail !== "tab-mig") { map.removeLayer(spans); return; }
    spans.addTo(map);
    if (!loaded) { loaded = true; await load(); }
    if (spans.getLayers().length) map.fitBounds(spans.getBounds(), { maxZoom: 17, padding: [40, 40] });
  });
  document.addEventListener("comp:changed", () => { if (loaded) load(); });  // a re-evaluation may open cases
})();
