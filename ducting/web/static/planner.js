// The planner's network map: vector tiles for the overview, GeoJSON by bbox for editing (Leaflet-Geoman draws,
// drags and removes; snapping to nodes), validation errors shown at the feature, history, and an as_of slider.
(function () {
  "use strict";
  const { t, api, fmt, el, problemText, problemList, toast } = B;
  const EDIT_ZOOM = 16;
  const editable = BEDELAU.role === "planner" || BEDELAU.role === "admin";
  const M = BMap.create("map", { zoom: 12 });
  const map = M.map;
  window.BEDELAU_MAP = map; // for tests and the console
  const hint = document.getElementById("hint");
  const edit = L.featureGroup().addTo(map);
  const problems = L.featureGroup().addTo(map);
  window.BEDELAU_EDIT = edit;
  let asOf = null;
  let selected = null;
  let loading = 0;

  // -- the editing layer -------------------------------------------------------------------------------------------
  function segmentLayer(f) {
    const colour = M.colours.STATUS_COLOURS[f.properties.status] || "#1c7ed6";
    const line = L.polyline(f.geometry.coordinates.map(([x, y]) => [y, x]), { color: colour, weight: 5, opacity: 0.9, pmIgnore: false });
    line.bid = { type: "segment", id: f.id, version: f.properties.version, code: f.properties.code };
    return line;
  }
  function nodeLayer(f) {
    const [x, y] = f.geometry.coordinates;
    const m = L.circleMarker([y, x], { radius: 7, color: "#fff", weight: 2, fillColor: M.colours.NODE_COLOURS[f.properties.kind] || "#333", fillOpacity: 1, pmIgnore: false });
    m.bid = { type: "node", id: f.id, version: f.properties.version, code: f.properties.code };
    m.bindTooltip(f.properties.code, { direction: "top", offset: [0, -6] });
    return m;
  }

  async function loadEditLayer() {
    const detailed = asOf || map.getZoom() >= EDIT_ZOOM;
    for (const layer of [M.net.segments, M.net.nodes]) {  // (read each time: the style mode swaps the segment layer)
      if (detailed && map.hasLayer(layer)) map.removeLayer(layer);
      if (!detailed && !map.hasLayer(layer)) map.addLayer(layer);
    }
    if (!detailed) { edit.clearLayers(); setHint(editable ? t("map.hint.zoom_to_edit") : ""); return; }
    const b = map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
    const q = `bbox=${bbox}&limit=5000` + (asOf ? `&as_of=${encodeURIComponent(asOf)}` : "");
    const ticket = ++loading;
    const [segs, nodes] = await Promise.all([api("GET", `/api/v1/collections/segments/items?${q}`),
                                             api("GET", `/api/v1/collections/nodes/items?${q}`)]);
    if (ticket !== loading) return;
    edit.clearLayers();
    segs.features.forEach((f) => edit.addLayer(segmentLayer(f)));
    nodes.features.forEach((f) => edit.addLayer(nodeLayer(f)));
    edit.eachLayer((l) => l.on("click", (e) => { if (activeTool) return; L.DomEvent.stopPropagation(e); select(l.bid); }));
    setHint(asOf ? t("map.hint.as_of", { when: fmt.dateTime(asOf) }) : activeTool ? t("map.hint.tool." + activeTool)
      : editable ? t("map.hint.editing") : "");
    document.getElementById("map").dataset.loaded = String(ticket);
  }
  map.on("moveend", () => { if (!dragging) loadEditLayer().catch(showError); });

  function setHint(text) { hint.textContent = text; hint.hidden = !text; }
  function showError(err) { toast(problemText(err), "error"); }

  // -- selection and the panel ---------------------------------------------------------------------------------
  async function select(target) {
    selected = target;
    const f = await BPanel.show(target, { editable: editable && !asOf, asOf, onChanged: () => { M.refresh(); loadEditLayer(); } });
    edit.eachLayer((l) => l.setStyle && l.bid && l.setStyle({ weight: l.bid.type === "segment" ? (l.bid.id === target.id && target.type === "segment" ? 8 : 5) : 2 }));
    return f;
  }
  map.on("bedelau:segment-click", (e) => { if (!activeTool) select({ type: "segment", id: e.properties.id }); });
  M.net.nodes.on("click", (e) => { if (!activeTool) select({ type: "node", id: e.layer.properties.id }); });

  // -- errors at the feature -----------------------------------------------------------------------------------
  function errorAt(latlng, err, layer) {
    problems.clearLayers();
    const lines = problemList(err);
    const html = `<strong>${escapeHtml(t("map.error_title"))}</strong><br>` + lines.map(escapeHtml).join("<br>");
    const marker = L.circleMarker(latlng, { radius: 10, color: "#e03131", weight: 3, fill: false, pmIgnore: true }).addTo(problems);
    marker.bindTooltip(html, { permanent: true, direction: "right", className: "error-tip", offset: [12, 0] }).openTooltip();
    if (layer && layer.setStyle) layer.setStyle({ color: "#e03131", dashArray: "6 6" });
    document.getElementById("panel-body").replaceChildren(el("div", { class: "alert error", role: "alert", id: "edit-error" },
      el("strong", {}, t("map.error_title")), el("ul", {}, lines.map((x) => el("li", {}, x)))));
  }
  function escapeHtml(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }

  function whereFor(err, latlngs) {
    const e = ((err.problem || {}).errors || [])[0] || {};
    const end = (e.detail || {}).end || (e.path || "").includes("end") ? "end" : null;
    if (!latlngs.length) return map.getCenter();
    return end === "end" || /end/.test(e.path || "") ? latlngs[latlngs.length - 1] : latlngs[0];
  }

  // -- tools (Leaflet-Geoman) ----------------------------------------------------------------------------------
  let activeTool = null;
  let dragging = false;
  if (editable) {
    try { map.pm.setLang(BEDELAU.lang === "id" ? "id" : "en"); } catch (e) { /* the language is optional */ }
    map.pm.setGlobalOptions({ snappable: true, snapDistance: 18, allowSelfIntersection: false,
      templineStyle: { color: "#f08c00", weight: 4 }, hintlineStyle: { color: "#f08c00", dashArray: "4 4" },
      pathOptions: { color: "#f08c00", weight: 5 } });
    document.querySelectorAll(".tool").forEach((b) => b.addEventListener("click", () => setTool(activeTool === b.dataset.tool ? null : b.dataset.tool)));
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") setTool(null); });
  }

  function setTool(tool) {
    map.pm.disableDraw();
    if (map.pm.globalDragModeEnabled()) map.pm.disableGlobalDragMode();
    if (map.pm.globalRemovalModeEnabled()) map.pm.disableGlobalRemovalMode();
    if (map.pm.globalEditModeEnabled()) map.pm.disableGlobalEditMode();
    activeTool = tool;
    document.querySelectorAll(".tool").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.tool === tool)));
    if (!tool) { setHint(map.getZoom() >= EDIT_ZOOM ? t("map.hint.editing") : t("map.hint.zoom_to_edit")); return; }
    if (asOf) { toast(t("map.hint.no_edit_as_of"), "error"); activeTool = null; return; }
    if (map.getZoom() < EDIT_ZOOM) map.setZoom(EDIT_ZOOM);
    problems.clearLayers();
    if (tool === "node") map.pm.enableDraw("CircleMarker", { continueDrawing: false, markerStyle: {}, pathOptions: { radius: 7, color: "#f08c00", fillOpacity: 1 } });
    if (tool === "segment") map.pm.enableDraw("Line", { finishOn: "dblclick" });
    if (tool === "move") { map.pm.enableGlobalDragMode(); edit.eachLayer((l) => l.bid && l.bid.type === "segment" && l.pm.disableLayerDrag && l.pm.disableLayerDrag()); }
    if (tool === "vertices") map.pm.enableGlobalEditMode({ allowAddingIntersections: false });
    if (tool === "delete") map.pm.enableGlobalRemovalMode();
    setHint(t("map.hint.tool." + tool));
  }

  const asGeo = {
    point: (ll) => ({ type: "Point", coordinates: [+ll.lng.toFixed(8), +ll.lat.toFixed(8)] }),
    line: (lls) => ({ type: "LineString", coordinates: lls.map((ll) => [+ll.lng.toFixed(8), +ll.lat.toFixed(8)]) }),
  };

  map.on("pm:create", async (e) => {
    const layer = e.layer;
    const tool = activeTool;
    try {
      if (e.shape === "Line") {
        const lls = layer.getLatLngs();
        try {
          const f = await api("POST", "/api/v1/network/segments", { geometry: asGeo.line(lls) });
          map.removeLayer(layer);
          toast(t("map.saved_segment", { code: f.properties.code }), "ok");
          await afterChange({ type: "segment", id: f.id });
        } catch (err) { errorAt(whereFor(err, lls), err, layer); keepProblem(layer); }
      } else {
        const ll = layer.getLatLng();
        try {
          const kind = document.getElementById("node-kind").value;
          const f = await api("POST", "/api/v1/network/nodes", { kind, geometry: asGeo.point(ll) });
          map.removeLayer(layer);
          toast(f.split ? t("map.saved_split", { code: f.properties.code }) : t("map.saved_node", { code: f.properties.code }), "ok");
          await afterChange({ type: "node", id: f.id });
        } catch (err) { errorAt(ll, err, layer); keepProblem(layer); }
      }
    } finally { setTool(tool === "segment" || tool === "node" ? null : tool); }
  });

  function keepProblem(layer) { map.removeLayer(layer); problems.addLayer(layer); layer.options.pmIgnore = true; }

  async function afterChange(target) {
    M.refresh();
    await loadEditLayer();
    await select(target);
  }

  // drag a node / edit a segment's vertices: PATCH with If-Match
  map.on("pm:globaldragmodetoggled", (e) => { dragging = e.enabled; });
  edit.on("pm:dragend", (e) => patchGeometry(e.layer));
  edit.on("pm:edit", (e) => { if (e.layer.bid && e.layer.bid.type === "segment" && activeTool === "vertices") patchGeometry(e.layer); });
  async function patchGeometry(layer) {
    const bid = layer.bid;
    if (!bid) return;
    const kind = bid.type === "node" ? "nodes" : "segments";
    const geometry = bid.type === "node" ? asGeo.point(layer.getLatLng()) : asGeo.line(layer.getLatLngs());
    try {
      await api("PATCH", `/api/v1/network/${kind}/${bid.id}`, { geometry }, { headers: { "If-Match": `"v${bid.version}"` } });
      toast(t("common.saved"), "ok");
      await afterChange(bid);
    } catch (err) {
      const at = bid.type === "node" ? layer.getLatLng() : layer.getLatLngs()[0];
      if (err.status === 412) {
        errorAt(at, err, null);
        document.getElementById("panel-body").replaceChildren(BPanel.conflictBox(err, () => afterChange(bid)));
      } else { errorAt(at, err, null); }
      loadEditLayer();
    }
  }

  map.on("pm:remove", async (e) => {
    const layer = e.layer;
    const bid = layer.bid;
    if (!bid) return;
    const kind = bid.type === "node" ? "nodes" : "segments";
    try {
      await api("DELETE", `/api/v1/network/${kind}/${bid.id}`, null, { headers: { "If-Match": `"v${bid.version}"` } });
      toast(t("map.removed", { code: bid.code }), "ok");
      M.refresh();
      loadEditLayer();
    } catch (err) {
      edit.addLayer(layer);
      errorAt(bid.type === "node" ? layer.getLatLng() : layer.getLatLngs()[0], err, null);
    }
  });

  // -- style, search, as_of ------------------------------------------------------------------------------------
  document.getElementById("style-mode").addEventListener("change", (e) => { M.setMode(e.target.value); loadEditLayer().catch(showError); });

  const kelurahan = {};
  api("GET", "/api/v1/collections/kelurahan/items?limit=500").then((fc) => {
    const list = document.getElementById("kelurahan-list");
    for (const f of fc.features) {
      kelurahan[f.properties.nama.toLowerCase()] = f;
      if (f.properties.kode) BPanel.areaNames[f.properties.kode] = f.properties.nama;
      list.append(el("option", { value: f.properties.nama }));
    }
  }).catch(showError);

  document.getElementById("search").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = document.getElementById("q").value.trim();
    if (!q) return;
    const area = kelurahan[q.toLowerCase()];
    // no animation: Leaflet ignores a new zoom while one is still animating, so a quick second search went nowhere
    if (area) { map.fitBounds(L.geoJSON(area).getBounds(), { animate: false }); return; }
    const code = q.toUpperCase();
    for (const [kind, type] of [["segments", "segment"], ["nodes", "node"]]) {
      const fc = await api("GET", `/api/v1/collections/${kind}/items?code=${encodeURIComponent(code)}`);
      if (fc.features.length) {
        const f = fc.features[0];
        const g = L.geoJSON(f);
        if (type === "node") map.setView(g.getBounds().getCenter(), Math.max(map.getZoom(), 17), { animate: false });
        else map.fitBounds(g.getBounds(), { maxZoom: 17, animate: false });
        select({ type, id: f.id });
        return;
      }
    }
    toast(t("map.search_none", { q }), "error");
  });

  // as_of: the slider picks a day (its end, 23:59:59 in the city's zone); the exact field picks a moment to the second.
  const slider = document.getElementById("as-of");
  const label = document.getElementById("as-of-label");
  const exact = document.getElementById("as-of-at");
  const back = document.getElementById("as-of-now");
  slider.addEventListener("input", () => {
    const days = +slider.value;
    label.textContent = days === 0 ? t("map.as_of_now") : fmt.date(dayIso(days));
  });
  slider.addEventListener("change", () => {
    const days = +slider.value;
    setAsOf(days === 0 ? null : `${dayIso(days)}T23:59:59`);
  });
  exact.addEventListener("change", () => setAsOf(exact.value ? withSeconds(exact.value) : null));
  back.addEventListener("click", () => setAsOf(null));
  function setAsOf(wallClock) {
    asOf = wallClock ? `${wallClock}${fmt.utcOffset}` : null;
    exact.value = wallClock || "";
    if (!wallClock) slider.value = 0;
    else slider.value = Math.max(+slider.min, Math.min(0, daysFromToday(wallClock.slice(0, 10))));
    label.textContent = asOf ? fmt.dateTime(asOf) : t("map.as_of_now");
    back.hidden = !asOf;
    document.body.classList.toggle("historic", !!asOf);
    setTool(null);
    if (selected) select(selected).catch(showError);
    loadEditLayer().catch(showError);
  }
  function withSeconds(v) { return v.length === 16 ? v + ":00" : v; }
  function dayIso(offset) {
    const d = new Date(fmt.today() + "T12:00:00Z"); // calendar-day arithmetic, at noon so no offset moves the day
    d.setUTCDate(d.getUTCDate() + offset);
    return d.toISOString().slice(0, 10);
  }
  function daysFromToday(iso) {
    return Math.round((Date.parse(iso + "T12:00:00Z") - Date.parse(fmt.today() + "T12:00:00Z")) / 86400000);
  }

  loadEditLayer().catch(showError);
})();
