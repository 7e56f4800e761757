// The public citizen report: a location on the map, a category, a description and a photo; no sign-in.
(function () {
  "use strict";
  const { t, el } = B;
  const map = L.map("map", { zoomControl: true }).setView([1.12, 104.03], 12);
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", { maxZoom: 19, opacity: 0.7,
    attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors' }).addTo(map);
  L.vectorGrid.protobuf("/tiles/kelurahan/{z}/{x}/{y}.pbf", { interactive: false, maxNativeZoom: 16,
    vectorTileLayerStyles: { kelurahan: { weight: 1, color: "#7a8a99", fill: true, fillColor: "#f4f1e8", fillOpacity: 0.5 } } }).addTo(map);
  map.attributionControl.addAttribution(t("map.boundary_attribution"));
  window.BEDELAU_MAP = map;
  let marker = null;
  function place(latlng) {
    if (marker) marker.setLatLng(latlng); else marker = L.marker(latlng, { draggable: true, title: t("rep.where") }).addTo(map);
    document.getElementById("coords").textContent = `${latlng.lat.toFixed(5)}, ${latlng.lng.toFixed(5)}`;
  }
  map.on("click", (e) => place(e.latlng));
  document.getElementById("locate").addEventListener("click", () => {
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition((p) => { const ll = L.latLng(p.coords.latitude, p.coords.longitude); place(ll); map.setView(ll, 17); });
  });
  const form = document.getElementById("report-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const msg = document.getElementById("report-msg");
    if (!marker) { msg.replaceChildren(el("p", { class: "alert warn" }, t("rep.need_location"))); return; }
    if (!form.description.value.trim()) { msg.replaceChildren(el("p", { class: "alert warn" }, t("rep.need_description"))); form.description.focus(); return; }
    const data = new FormData();
    const ll = marker.getLatLng();
    data.append("lon", ll.lng.toFixed(7)); data.append("lat", ll.lat.toFixed(7));
    data.append("category", form.category.value); data.append("description", form.description.value);
    if (form.photo.files[0]) data.append("photo", form.photo.files[0]);
    try {
      const r = await B.api("POST", "/api/v1/public/reports", data);
      form.hidden = true;
      document.getElementById("receipt").replaceChildren(el("div", { class: "card receipt", id: "reference" },
        el("p", {}, t("rep.thanks")), el("p", { class: "big" }, r.reference), el("p", { class: "muted" }, t("rep.next")),
        el("p", {}, el("a", { class: "btn", href: "/lapor" }, t("rep.another")))));
    } catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, B.problemText(err))); }
  });
})();
