// The shared map: OpenStreetMap when online (attributed), the real kecamatan/kelurahan boundaries as a light
// base that keeps the map readable offline, and the network as vector tiles styled by status or occupancy.
(function () {
  "use strict";
  const { t, el } = B;
  const BATAM = [1.085, 104.03];

  const STATUS_COLOURS = { proposed: "#9c6ade", planned: "#6f7dff", underConstruction: "#f08c00",
    operational: "#1c7ed6", inactive: "#868e96", decommissioned: "#c92a2a" };
  const OCCUPANCY_COLOURS = { free: "#2f9e44", nearly_full: "#f59f00", full: "#e03131", none: "#adb5bd" };
  const NODE_COLOURS = { manhole: "#1864ab", handhole: "#5c940d", pole: "#862e9c", cabinet: "#d9480f", building_entry: "#495057" };

  // Leaflet 1.8 removed DomEvent.fakeStop, which VectorGrid 1.3 still calls on a click.
  if (!L.DomEvent.fakeStop) L.DomEvent.fakeStop = function (e) { e._stopped = true; };

  function create(elementId, opts) {
    opts = opts || {};
    const map = L.map(elementId, { zoomControl: true, preferCanvas: true, minZoom: 9, maxZoom: 20, pmIgnore: false });
    const viewFromHash = () => {
      const m = /^#(\d+)\/([\d.-]+)\/([\d.-]+)/.exec(location.hash);
      if (m) map.setView([+m[2], +m[3]], +m[1]);
      return !!m;
    };
    if (!viewFromHash()) map.setView(opts.center || BATAM, opts.zoom || 12);
    window.addEventListener("hashchange", viewFromHash);
    map.on("moveend", () => {
      const c = map.getCenter();
      history.replaceState(null, "", `#${map.getZoom()}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`);
    });

    const osm = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
      maxZoom: 19, maxNativeZoom: 19, opacity: 0.55,
      attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    });
    if (navigator.onLine !== false) osm.addTo(map);

    const boundaries = L.vectorGrid.protobuf("/tiles/{layer}/{z}/{x}/{y}.pbf".replace("{layer}", "kelurahan"), {
      pane: "tilePane", interactive: false, maxNativeZoom: 16,
      fetchOptions: { credentials: "same-origin" },
      vectorTileLayerStyles: { kelurahan: { weight: 1, color: "#7a8a99", fill: true, fillColor: "#f4f1e8", fillOpacity: 0.5, dashArray: "3 3" } },
    }).addTo(map);
    const kecamatan = L.vectorGrid.protobuf("/tiles/kecamatan/{z}/{x}/{y}.pbf", {
      interactive: false, maxNativeZoom: 16, fetchOptions: { credentials: "same-origin" },
      vectorTileLayerStyles: { kecamatan: { weight: 2.2, color: "#55606b", fill: false } },
    }).addTo(map);
    map.attributionControl.addAttribution(t("map.boundary_attribution"));

    const state = { mode: opts.styleMode || "status", version: 0 };
    function segmentStyle(p) {
      const colour = state.mode === "occupancy" ? OCCUPANCY_COLOURS[p.occupancy] || "#adb5bd" : STATUS_COLOURS[p.status] || "#1c7ed6";
      return { color: colour, weight: 3, opacity: 0.95, dashArray: p.status === "planned" || p.status === "proposed" ? "6 4" : null };
    }
    function makeSegments() {
      // occupancy is a layer of its own: the plain status layer is lighter to build and to draw
      const layer = state.mode === "occupancy" ? "occupancy" : "segments";
      return L.vectorGrid.protobuf(`/tiles/${layer}/{z}/{x}/{y}.pbf?v={v}`, {
        v: () => state.version, interactive: true, maxNativeZoom: 18, getFeatureId: (f) => f.properties.id,
        fetchOptions: { credentials: "same-origin" }, vectorTileLayerStyles: { segments: segmentStyle, occupancy: segmentStyle },
      });
    }
    function makeNodes() {
      return L.vectorGrid.protobuf("/tiles/nodes/{z}/{x}/{y}.pbf?v={v}", {
        v: () => state.version, interactive: true, maxNativeZoom: 18, minZoom: 14,
        getFeatureId: (f) => f.properties.id, fetchOptions: { credentials: "same-origin" },
        vectorTileLayerStyles: { nodes: (p) => ({ radius: 3.5, weight: 1, color: "#fff", fill: true,
          fillColor: NODE_COLOURS[p.kind] || "#333", fillOpacity: 1 }) },
      });
    }
    const net = { segments: makeSegments(), nodes: makeNodes() };
    net.segments.addTo(map);
    net.nodes.addTo(map);
    net.segments.on("click", (e) => map.fire("bedelau:segment-click", { properties: e.layer.properties }));
    // First meaningful paint: the network and the boundaries of the first view are drawn (bench/tiles.py reads it).
    let pending = 2;
    const ready = () => { if (--pending === 0) { performance.mark("bedelau:map-ready"); map.getContainer().dataset.ready = "1"; } };
    net.segments.once("load", ready);
    boundaries.once("load", ready);

    const layersControl = L.control.layers(null, {
      [t("map.layer.osm")]: osm, [t("map.layer.kelurahan")]: boundaries, [t("map.layer.kecamatan")]: kecamatan,
      [t("map.layer.segments")]: net.segments, [t("map.layer.nodes")]: net.nodes,
    }, { collapsed: false, position: "topright" }).addTo(map);

    const legend = L.control({ position: "bottomleft" });
    legend.onAdd = () => { const div = L.DomUtil.create("div", "legend"); L.DomEvent.disableClickPropagation(div); return div; };
    legend.addTo(map);
    function drawLegend() {
      const div = legend.getContainer();
      div.innerHTML = "";
      const colours = state.mode === "occupancy" ? OCCUPANCY_COLOURS : STATUS_COLOURS;
      const prefix = state.mode === "occupancy" ? "occupancy." : "status.";
      div.append(el("strong", {}, t(state.mode === "occupancy" ? "map.legend.occupancy" : "map.legend.status")));
      for (const [k, c] of Object.entries(colours)) {
        div.append(el("div", { class: "row" }, el("span", { class: "swatch", style: `background:${c}` }), t(prefix + k)));
      }
      div.append(el("div", { class: "row" }, el("span", { class: "swatch dot", style: "background:#1864ab" }), t("map.legend.node")));
    }
    drawLegend();

    function setMode(mode) {
      state.mode = mode;
      const shown = map.hasLayer(net.segments);
      const old = net.segments;
      net.segments = makeSegments();
      if (shown) { map.removeLayer(old); map.addLayer(net.segments); }
      layersControl.removeLayer(old);
      layersControl.addOverlay(net.segments, t("map.layer.segments"));
      net.segments.on("click", (e) => map.fire("bedelau:segment-click", { properties: e.layer.properties }));
      drawLegend();
    }
    function refresh() {
      state.version += 1;
      net.segments.redraw();
      net.nodes.redraw();
    }
    return { map, osm, boundaries, kecamatan, net, layersControl, setMode, refresh, state,
             colours: { STATUS_COLOURS, OCCUPANCY_COLOURS, NODE_COLOURS } };
  }

  window.BMap = { create, BATAM };
})();
