// Compliance: the flag worklist and map (acknowledge / resolve / waive with a reason), and the triage queue of
// citizen reports (verify or reject).
(function () {
  "use strict";
  const { t, api, fmt, el, problemText, toast } = B;
  const M = BMap.create("map", { zoom: 12 });
  const map = M.map;
  window.BEDELAU_MAP = map;
  const flagsLayer = L.featureGroup().addTo(map), reportsLayer = L.featureGroup().addTo(map);
  const SEV = { high: "#e03131", medium: "#f59f00", low: "#1c7ed6" };
  const manager = BEDELAU.role === "planner" || BEDELAU.role === "admin";

  async function loadFlags() {
    const box = document.getElementById("flags");
    flagsLayer.clearLayers();
    let flags;
    try { flags = await api("GET", "/api/v1/compliance/flags?status=open&status=acknowledged&limit=300"); }
    catch (err) { box.replaceChildren(el("p", { class: "alert warn" }, err.status === 404 ? t("comp.not_available") : problemText(err))); return; }
    box.replaceChildren(...(flags.length ? flags.map((f) => {
      const c = el("article", { class: "req", tabindex: "0" },
        el("div", { class: "top" }, el("strong", {}, t("rule." + f.rule) !== "rule." + f.rule ? t("rule." + f.rule) : f.rule),
          el("span", { class: "badge", style: `background:${SEV[f.severity] || "#868e96"};color:#fff` }, f.severity)),
        el("dl", { class: "kv" }, el("dt", {}, t("comp.status")), el("dd", {}, t("status." + f.status)),
          el("dt", {}, t("comp.measured")), el("dd", {}, f.measured !== null ? `${f.measured} ${f.unit || ""} (${t("comp.threshold")} ${f.threshold ?? "–"})` : "–"),
          el("dt", {}, t("comp.opened")), el("dd", {}, fmt.wib(f.opened_at))));
      if (manager) {
        const reason = el("input", { "aria-label": t("comp.reason"), placeholder: t("comp.reason") });
        const act = (to) => async (e) => { e.stopPropagation();
          try { await api("POST", `/api/v1/compliance/flags/${f.id}/transition`, { to, reason: reason.value || null, version: f.version }); toast(t("common.saved"), "ok"); loadFlags(); }
          catch (err) { toast(problemText(err), "error"); } };
        c.append(el("div", { class: "actions" }, f.status === "open" ? el("button", { class: "btn", type: "button", onclick: act("acknowledged") }, t("comp.acknowledge")) : null,
          el("button", { class: "btn", type: "button", onclick: act("resolved") }, t("comp.resolve")),
          reason, el("button", { class: "btn danger", type: "button", onclick: act("waived") }, t("comp.waive"))));
      }
      if (f.geometry) {
        const layer = L.geoJSON(f.geometry, { pointToLayer: (_, ll) => L.circleMarker(ll, { radius: 7 }),
          style: { color: SEV[f.severity] || "#868e96", weight: 4 } }).addTo(flagsLayer);
        c.addEventListener("click", () => map.fitBounds(layer.getBounds(), { maxZoom: 18 }));
      }
      return c;
    }) : [el("p", { class: "muted" }, t("common.none"))]));
    if (flagsLayer.getLayers().length) map.fitBounds(flagsLayer.getBounds(), { maxZoom: 16 });
  }

  async function loadReports() {
    const box = document.getElementById("reports");
    if (!box || !manager) return;
    reportsLayer.clearLayers();
    let rows;
    try { rows = await api("GET", "/api/v1/compliance/reports?status=new"); }
    catch (err) { box.replaceChildren(el("p", { class: "alert warn" }, problemText(err))); return; }
    box.replaceChildren(...(rows.length ? rows.map((r) => {
      const note = el("input", { "aria-label": t("comp.note"), placeholder: t("comp.note") });
      const review = (verified) => async () => {
        try { await api("POST", `/api/v1/compliance/reports/${r.id}/review`, { verified, span_id: verified ? r.nearest_span_id : null, note: note.value || null });
          toast(t("common.saved"), "ok"); loadReports(); loadFlags(); }
        catch (err) { toast(problemText(err), "error"); } };
      L.marker([r.lat, r.lon], { title: r.reference }).bindTooltip(r.reference).addTo(reportsLayer);
      return el("article", { class: "req" }, el("div", { class: "top" }, el("strong", {}, r.reference), el("span", { class: "badge" }, t("cat." + r.category))),
        el("p", {}, r.description), el("p", { class: "muted small" }, fmt.wib(r.created_at)),
        r.has_photo ? el("img", { src: `/api/v1/compliance/reports/${r.id}/photo`, alt: t("rep.photo") + " " + r.reference, class: "thumb" }) : null,
        el("div", { class: "actions" }, note, el("button", { class: "btn primary", type: "button", onclick: review(true) }, t("comp.verify")),
          el("button", { class: "btn danger", type: "button", onclick: review(false) }, t("comp.reject"))));
    }) : [el("p", { class: "muted" }, t("common.none"))]));
  }

  document.querySelectorAll('[role="tab"]').forEach((tab) => tab.addEventListener("click", () => {
    document.querySelectorAll('[role="tab"]').forEach((x) => { x.setAttribute("aria-selected", String(x === tab)); document.getElementById(x.getAttribute("aria-controls")).hidden = x !== tab; });
  }));
  loadFlags(); loadReports();
})();
