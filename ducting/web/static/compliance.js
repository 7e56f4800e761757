// Compliance: the flag worklist beside its map (acknowledge / resolve / waive with a reason), filtered by rule, and
// the triage queue of citizen reports (verify or reject). A card and its feature on the map select each other.
// The tabs are switched here; no-overhead zones and migration cases live in compliance_zones.js and
// compliance_migrations.js, which hear "comp:tab" when their tab opens and say "comp:changed" when flags may have moved.
(function () {
  "use strict";
  const { t, api, fmt, el, problemText, toast } = B;
  const M = BMap.create("map", { zoom: 12 });
  const map = M.map;
  window.BEDELAU_MAP = map;
  const flagsLayer = L.featureGroup().addTo(map), reportsLayer = L.featureGroup().addTo(map);
  const SEV = { critical: "#862e9c", high: "#e03131", medium: "#f59f00", low: "#1c7ed6" };
  const manager = BEDELAU.role === "planner" || BEDELAU.role === "admin";
  const ruleFilter = document.getElementById("rule-filter");
  const rules = {};

  const ruleTitle = (code) => (rules[code] && (BEDELAU.lang === "en" ? rules[code].title_en : rules[code].title_id)) || code;
  const num = (x) => fmt.num(x, { decimals: 2, trim: true });
  const sevBadge = (sev) => el("span", { class: "badge sev", style: `background:${SEV[sev] || "#868e96"}` }, t("sev." + sev));

  function select(card, layer) {
    document.querySelectorAll("#flags .req, #reports .req").forEach((c) => c.setAttribute("aria-selected", String(c === card)));
    if (card) card.scrollIntoView({ block: "nearest" });
    if (layer) map.fitBounds(layer.getBounds(), { maxZoom: 18, padding: [40, 40] });
  }

  function flagCard(f) {
    const explanation = rules[f.rule] ? (BEDELAU.lang === "en" ? rules[f.rule].explanation_en : rules[f.rule].explanation_id) : "";
    const c = el("article", { class: "req", tabindex: "0", "data-flag": String(f.id), "aria-selected": "false" },
      el("div", { class: "top" }, el("strong", {}, ruleTitle(f.rule)), sevBadge(f.severity)),
      explanation ? el("p", { class: "muted small" }, explanation) : null,
      el("dl", { class: "kv" }, el("dt", {}, t("comp.status")), el("dd", {}, t("status." + f.status)),
        el("dt", {}, t("comp.measured")), el("dd", {}, f.measured !== null ? `${num(f.measured)} ${f.unit || ""} (${t("comp.threshold")} ${f.threshold === null ? "–" : num(f.threshold)})` : "–"),
        f.road_class ? [el("dt", {}, t("comp.road")), el("dd", {}, t("road." + f.road_class))] : [],
        el("dt", {}, t("comp.opened")), el("dd", {}, fmt.dateTime(f.opened_at))));
    if (manager) {
      const msg = el("div", { role: "alert" });
      const reason = el("input", { "aria-label": t("comp.reason"), placeholder: t("comp.reason"), class: "reason" });
      const act = (to) => async (e) => {
        e.stopPropagation();
        try {
          await api("POST", `/api/v1/compliance/flags/${f.id}/transition`, { to, reason: reason.value || null, version: f.version });
          toast(t("comp.moved", { status: t("status." + to) }), "ok");
          loadFlags();
        } catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))); }
      };
      c.append(el("div", { class: "actions" },
        f.status === "open" ? el("button", { class: "btn", type: "button", onclick: act("acknowledged") }, t("comp.acknowledge")) : null,
        el("button", { class: "btn", type: "button", onclick: act("resolved") }, t("comp.resolve")),
        reason, el("button", { class: "btn danger", type: "button", onclick: act("waived") }, t("comp.waive"))), msg);
      reason.addEventListener("click", (e) => e.stopPropagation());
    }
    if (f.geometry) {
      const colour = SEV[f.severity] || "#868e96";
      const layer = L.geoJSON(f.geometry, { pointToLayer: (_, ll) => L.circleMarker(ll, { radius: 8, weight: 3, fillOpacity: 0.6 }),
        style: { color: colour, fillColor: colour, weight: 5 } }).addTo(flagsLayer);
      layer.bindTooltip(ruleTitle(f.rule));
      layer.on("click", () => select(c, null));
      const open = () => select(c, layer);
      c.addEventListener("click", open);
      c.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === c) { e.preventDefault(); open(); } });
    }
    return c;
  }

  async function loadFlags() {
    const box = document.getElementById("flags");
    flagsLayer.clearLayers();
    let flags;
    const rule = ruleFilter.value ? `&rule=${encodeURIComponent(ruleFilter.value)}` : "";
    try { flags = await api("GET", `/api/v1/compliance/flags?status=open&status=acknowledged&limit=300${rule}`); }
    catch (err) { box.replaceChildren(el("p", { class: "alert warn" }, err.status === 404 ? t("comp.not_available") : problemText(err))); return; }
    document.getElementById("tab-flags").textContent = `${t("comp.flags")} (${flags.length})`;
    box.replaceChildren(...(flags.length ? flags.map(flagCard) : [el("p", { class: "muted" }, t("common.none"))]));
    if (flagsLayer.getLayers().length) map.fitBounds(flagsLayer.getBounds(), { maxZoom: 18, padding: [30, 30] });
    map.getContainer().dataset.flags = String(flagsLayer.getLayers().length);
    box.dataset.loaded = String(flags.length);
  }

  async function loadReports() {
    const box = document.getElementById("reports");
    if (!box || !manager) return;
    reportsLayer.clearLayers();
    let rows;
    try { rows = await api("GET", "/api/v1/compliance/reports?status=new"); }
    catch (err) { box.replaceChildren(el("p", { class: "alert warn" }, problemText(err))); return; }
    document.getElementById("tab-reports").textContent = `${t("comp.reports")} (${rows.length})`;
    box.replaceChildren(...(rows.length ? rows.map((r) => {
      const note = el("input", { "aria-label": t("comp.note"), placeholder: t("comp.note") });
      const msg = el("div", { role: "alert" });
      const review = (verified) => async () => {
        try {
          await api("POST", `/api/v1/compliance/reports/${r.id}/review`, { verified, span_id: verified ? r.nearest_span_id : null, note: note.value || null });
          toast(t(verified ? "comp.verified" : "comp.rejected", { ref: r.reference }), "ok");
          loadReports(); loadFlags();
        } catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))); }
      };
      const card = el("article", { class: "req", tabindex: "0", "data-report": r.reference, "aria-selected": "false" },
        el("div", { class: "top" }, el("strong", {}, r.reference), el("span", { class: "badge" }, t("cat." + r.category))),
        el("p", {}, r.description), el("p", { class: "muted small" }, fmt.dateTime(r.created_at)),
        r.has_photo ? el("img", { src: `/api/v1/compliance/reports/${r.id}/photo`, alt: t("rep.photo") + " " + r.reference, class: "thumb" }) : null,
        el("div", { class: "actions" }, note, el("button", { class: "btn primary", type: "button", onclick: review(true) }, t("comp.verify")),
          el("button", { class: "btn danger", type: "button", onclick: review(false) }, t("comp.reject"))), msg);
      const marker = L.marker([r.lat, r.lon], { title: r.reference }).bindTooltip(r.reference).addTo(reportsLayer);
      marker.on("click", () => select(card, null));
      card.addEventListener("click", (e) => { if (e.target === card || e.target.tagName === "P") { select(card, null); map.setView([r.lat, r.lon], 17); } });
      return card;
    }) : [el("p", { class: "muted" }, t("common.none"))]));
    box.dataset.loaded = String(rows.length);
  }

  document.querySelectorAll('[role="tab"]').forEach((tab) => tab.addEventListener("click", () => {
    document.querySelectorAll('[role="tab"]').forEach((x) => { x.setAttribute("aria-selected", String(x === tab)); document.getElementById(x.getAttribute("aria-controls")).hidden = x !== tab; });
    if (tab.id === "tab-reports" && reportsLayer.getLayers().length) map.fitBounds(reportsLayer.getBounds(), { maxZoom: 16, padding: [30, 30] });
    document.getElementById("rule-filter-box").hidden = tab.id !== "tab-flags";
    // the zone and migration tabs (compliance_zones.js, compliance_migrations.js) load when first shown
    document.dispatchEvent(new CustomEvent("comp:tab", { detail: tab.id }));
  }));
  ruleFilter.addEventListener("change", () => loadFlags());
  document.addEventListener("comp:changed", () => loadFlags());  // a zone changed: the spans under it were re-evaluated

  api("GET", "/api/v1/compliance/rules").then((list) => {
    for (const r of list) {
      rules[r.code] = r;
      ruleFilter.append(el("option", { value: r.code }, BEDELAU.lang === "en" ? r.title_en : r.title_id));
    }
  }).catch(() => {}).finally(() => { loadFlags(); loadReports(); });
})();
