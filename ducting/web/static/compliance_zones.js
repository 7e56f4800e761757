// No-overhead zones on the compliance page: the list beside their shapes on the map, switching a zone off or on and
// renaming it, and the import of a zone file in two steps like the network import: a dry run (every fault with its
// row, nothing written) and then "Simpan" of the very file that passed. A changed zone re-evaluates the spans under
// it; the page says how many when the API does.
(function () {
  "use strict";
  const { t, api, el, problemText, toast } = B;
  const map = window.BEDELAU_MAP;
  const manager = BEDELAU.role === "planner" || BEDELAU.role === "admin";
  const zonesLayer = L.featureGroup().addTo(map);
  window.BEDELAU_ZONES = zonesLayer;
  const list = document.getElementById("zone-list");
  const form = document.getElementById("zone-import"), out = document.getElementById("zone-report");
  const commit = document.getElementById("zone-commit");
  const STYLE_ON = { color: "#c2255c", weight: 2, fillColor: "#c2255c", fillOpacity: 0.12 };
  const STYLE_OFF = { color: "#868e96", weight: 2, dashArray: "6 4", fillColor: "#868e96", fillOpacity: 0.04 };
  let checked = null;  // the File whose dry run passed: only it may be saved

  function faults(err) {
    const errors = (err.problem && err.problem.errors) || [];
    if (!errors.length) return el("div", { class: "card", id: "zone-faults" }, el("p", { class: "alert error", role: "alert" }, problemText(err)));
    const layered = errors.some((e) => /^[^/]+\/rows\//.test(e.path || ""));
    const rows = errors.map((e) => {
      const d = e.detail || {};
      const row = d.row !== undefined ? String(d.row) : (String(e.path || "").match(/rows\/(\d+)/) || [])[1] || "–";
      return el("tr", { "data-row": row }, el("td", { class: "num" }, row), layered ? el("td", {}, d.layer || "–") : null,
        el("td", {}, B.codeText(e.code), el("br"), el("code", { class: "small" }, e.code)), el("td", { class: "msg" }, e.message));
    });
    const cols = [t("comp.zones.row"), layered ? t("comp.zones.layer") : null, t("comp.zones.rule"), t("comp.zones.message")].filter(Boolean);
    return el("div", { class: "card", id: "zone-faults" },
      el("p", { class: "alert error", role: "alert" }, t("comp.zones.failed", { n: errors.length })),
      el("table", { class: "grid small faults" }, el("thead", {}, el("tr", {}, cols.map((h, i) => el("th", { scope: "col", class: i ? "" : "num" }, h)))),
        el("tbody", {}, rows)));
  }

  function rowsTable(r) {
    return el("table", { class: "grid small" },
      el("thead", {}, el("tr", {}, [t("comp.zones.row"), t("comp.zones.name"), t("comp.zones.action")].map((h, i) => el("th", { scope: "col", class: i ? "" : "num" }, h)))),
      el("tbody", {}, r.rows.map((x) => el("tr", {}, el("td", { class: "num" }, String(x.row)), el("td", {}, x.name),
        el("td", {}, el("span", { class: "badge zone-" + x.action }, t("comp.zones.action." + x.action)))))));
  }

  function evaluationText(ev) {
    if (!ev) return null;
    return el("p", { class: "small", "data-spans": String(ev.spans_in_scope ?? "") },
      t("comp.zones.reevaluated", { spans: ev.spans_in_scope ?? "–", opened: ev.opened, resolved: ev.resolved }));
  }

  async function send(dryRun) {
    const file = dryRun ? form.file.files[0] : checked;
    if (!file) return;
    out.replaceChildren(el("p", { class: "muted" }, t("common.loading")));
    commit.disabled = true;
    try {
      const r = await B.postFile("/api/v1/compliance/zones/import", file, { dry_run: dryRun, crs: form.crs.value.trim() });
      const counts = { file: file.name, created: r.created, updated: r.updated, unchanged: r.unchanged };
      if (dryRun) {
        checked = file; commit.disabled = false;
        out.replaceChildren(el("div", { class: "card", id: "zone-dry-run" }, el("p", { class: "alert ok" }, t("comp.zones.ok", counts)),
          rowsTable(r), el("p", { class: "muted small" }, t("comp.zones.commit_hint"))));
      } else {
        checked = null;
        out.replaceChildren(el("div", { class: "card", id: "zone-committed" },
          el("p", { class: "alert ok", role: "status" }, t("comp.zones.committed", counts)),
          evaluationText(r.evaluation) || el("p", { class: "muted small" }, t("comp.zones.no_spans")), rowsTable(r)));
        form.reset();
        await loadZones(true);
        document.dispatchEvent(new CustomEvent("comp:changed"));
      }
    } catch (err) {
      checked = null;
      out.replaceChildren(faults(err));
    }
  }

  async function change(z, body, msg, done) {
    try {
      const r = await api("PATCH", `/api/v1/compliance/zones/${z.id}`, body);
      const ev = r.evaluation;
      toast(t(done, { name: r.name }) + (ev ? " · " + t("comp.zones.reevaluated", { spans: ev.spans_in_scope ?? "–", opened: ev.opened, resolved: ev.resolved }) : ""), "ok");
      await loadZones(false);
      if (ev) document.dispatchEvent(new CustomEvent("comp:changed"));
    } catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))); }
  }

  function select(card, layer) {
    list.querySelectorAll(".req").forEach((c) => c.setAttribute("aria-selected", String(c === card)));
    if (card) card.scrollIntoView({ block: "nearest" });
    if (layer) map.fitBounds(layer.getBounds(), { maxZoom: 17, padding: [40, 40] });
  }

  function zoneCard(z) {
    const msg = el("div", { role: "alert" });
    const card = el("article", { class: "req zone" + (z.active ? "" : " off"), tabindex: "0", "data-zone": String(z.id), "aria-selected": "false" },
      el("div", { class: "top" }, el("strong", {}, z.name),
        el("span", { class: "badge " + (z.active ? "zone-on" : "zone-off") }, t(z.active ? "comp.zones.active" : "comp.zones.inactive"))),
      z.reason ? el("p", { class: "muted small" }, z.reason) : null);
    if (manager) {
      const name = el("input", { "aria-label": t("comp.zones.new_name"), value: z.name, class: "rename", maxlength: "200" });
      name.addEventListener("click", (e) => e.stopPropagation());
      const rename = el("button", { class: "btn", type: "button", onclick: (e) => {
        e.stopPropagation();
        const value = name.value.trim();
        if (value && value !== z.name) change(z, { name: value }, msg, "comp.zones.renamed");
      } }, t("comp.zones.rename"));
      const toggle = el("button", { class: z.active ? "btn danger" : "btn primary", type: "button", onclick: (e) => {
        e.stopPropagation();
        change(z, { active: !z.active }, msg, z.active ? "comp.zones.switched_off" : "comp.zones.switched_on");
      } }, t(z.active ? "comp.zones.switch_off" : "comp.zones.switch_on"));
      card.append(el("div", { class: "actions" }, name, rename, toggle), msg);
    }
    if (z.geometry) {
      const layer = L.geoJSON(z.geometry, { style: z.active ? STYLE_ON : STYLE_OFF }).addTo(zonesLayer);
      layer.bringToBack();  // under the flags, which are what a planner clicks
      layer.bindTooltip(z.name + (z.active ? "" : ` (${t("comp.zones.inactive")})`));
      layer.on("click", () => select(card, null));
      const open = () => select(card, layer);
      card.addEventListener("click", open);
      card.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === card) { e.preventDefault(); open(); } });
      card.dataset.drawn = "true";
    }
    return card;
  }

  async function loadZones(fit) {
    let zones;
    try { zones = await api("GET", "/api/v1/compliance/zones"); }
    catch (err) { list.replaceChildren(el("p", { class: "alert warn" }, problemText(err))); return; }
    zonesLayer.clearLayers();
    list.replaceChildren(...(zones.length ? zones.map(zoneCard) : [el("p", { class: "muted" }, t("comp.zones.none"))]));
    document.getElementById("tab-zones").textContent = `${t("comp.zones.tab")} (${zones.filter((z) => z.active).length})`;
    map.getContainer().dataset.zones = String(zonesLayer.getLayers().length);
    list.dataset.loaded = String(zones.length);
    if (fit && zonesLayer.getLayers().length) map.fitBounds(zonesLayer.getBounds(), { maxZoom: 16, padding: [30, 30] });
  }

  if (form) {
    form.file.addEventListener("change", () => { checked = null; commit.disabled = true; out.replaceChildren(); });
    form.addEventListener("submit", (e) => { e.preventDefault(); send(true); });
    commit.addEventListener("click", () => send(false));
  }
  document.addEventListener("comp:tab", (e) => {
    if (e.detail === "tab-zones" && zonesLayer.getLayers().length) map.fitBounds(zonesLayer.getBounds(), { maxZoom: 16, padding: [30, 30] });
  });
  loadZones(false);  // drawn from the start: a no_overhead_zone flag reads better with its zone under it
})();
