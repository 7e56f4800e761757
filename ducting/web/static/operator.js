// Operator: the availability map (free capacity per segment, no identities), A → B by clicking, route + quote,
// submit; my requests with accept and cancel.
(function () {
  "use strict";
  const { t, api, fmt, el, problemText, toast } = B;
  const M = BMap.create("map", { zoom: 13, styleMode: "occupancy" });
  const map = M.map;
  window.BEDELAU_MAP = map;
  const picks = { a: null, b: null };
  const markers = L.layerGroup().addTo(map);
  let route = null;
  let lastQuery = null;
  // A compliance letter links here with what it offers (segment codes in order, the size class the operator's
  // cable needs, the first day and term, and the flag it answers): that is the request until the operator picks
  // points on the map or resets, and it is quoted as the letter quoted it.
  const fromLetter = letterRoute(new URLSearchParams(window.location.search));
  const form = document.getElementById("req-form");
  document.getElementById("first-day").value = addDays(fmt.today(), 7);
  if (fromLetter) {
    if (fromLetter.size && [...form.size.options].some((o) => o.value === fromLetter.size)) form.size.value = fromLetter.size;
    if (fromLetter.firstDay) form.first_day.value = fromLetter.firstDay;
    if (fromLetter.term) form.term.value = fromLetter.term;
  }

  function letterRoute(params) {
    const codes = (params.get("segments") || "").split(",").map((s) => s.trim()).filter(Boolean);
    const flag = /^\d+$/.test(params.get("flag") || "") ? params.get("flag") : null;
    const firstDay = /^\d{4}-\d{2}-\d{2}$/.test(params.get("first_day") || "") ? params.get("first_day") : null;
    const term = /^\d{1,3}$/.test(params.get("term") || "") ? params.get("term") : null;
    return codes.length ? { codes, flag, size: params.get("size"), firstDay, term } : null;
  }

  function addDays(iso, n) { const d = new Date(iso + "T12:00:00Z"); d.setUTCDate(d.getUTCDate() + n); return d.toISOString().slice(0, 10); }

  map.on("click", async (e) => {
    if (letter) { letter = null; drawPicks(); }  // picking points replaces the letter's route
    const which = !picks.a ? "a" : !picks.b ? "b" : null;
    if (!which) return;
    const node = await nearestNode(e.latlng);
    if (!node) { toast(t("op.no_node"), "error"); return; }
    picks[which] = node;
    drawPicks();
  });

  async function nearestNode(latlng) {
    const p = map.latLngToContainerPoint(latlng);
    const r = 30;
    const sw = map.containerPointToLatLng([p.x - r, p.y + r]), ne = map.containerPointToLatLng([p.x + r, p.y - r]);
    const fc = await api("GET", `/api/v1/collections/nodes/items?bbox=${sw.lng},${sw.lat},${ne.lng},${ne.lat}&limit=200`);
    let best = null, bestD = Infinity;
    for (const f of fc.features) {
      const ll = L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0]);
      const d = map.distance(latlng, ll);
      if (d < bestD) { best = { code: f.properties.code, latlng: ll }; bestD = d; }
    }
    return best;
  }

  let letter = fromLetter;

  function drawPicks() {
    markers.clearLayers();
    const banner = document.getElementById("letter-route");
    banner.hidden = !letter;
    if (letter) {
      const { codes, flag } = letter;
      banner.textContent = t("op.letter_route", { n: codes.length, first: codes[0], last: codes[codes.length - 1] })
        + (flag ? " " + t("op.letter_flag", { id: flag }) : "");
    }
    for (const k of ["a", "b"]) {
      const box = document.getElementById("pt-" + k);
      const shown = letter ? (k === "a" ? letter.codes[0] : letter.codes[letter.codes.length - 1]) : picks[k] && picks[k].code;
      box.classList.toggle("set", !!shown);
      box.querySelector("span").textContent = shown || t("op.not_set");
      if (picks[k]) L.marker(picks[k].latlng, { title: picks[k].code, pmIgnore: true })
        .bindTooltip(k.toUpperCase() + " · " + picks[k].code, { permanent: true, direction: "top", offset: [-15, -12] }).addTo(markers);
    }
    document.getElementById("pick-hint").textContent = letter ? "" : !picks.a ? t("op.pick_a") : !picks.b ? t("op.pick_b") : "";
  }

  document.getElementById("reset").addEventListener("click", () => {
    picks.a = picks.b = null; letter = null; drawPicks();
    if (route) map.removeLayer(route);
    document.getElementById("result").replaceChildren();
    document.getElementById("submit").disabled = true;
  });

  function query() {
    const where = letter ? { segments: letter.codes } : { from_node: picks.a.code, to_node: picks.b.code };
    return { ...where, subduct_count: +form.count.value, size_class: form.size.value,
             first_day: form.first_day.value, term_months: +form.term.value };
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = document.getElementById("result");
    if (!letter && (!picks.a || !picks.b)) { out.replaceChildren(el("p", { class: "alert warn" }, t("op.pick_a"))); return; }
    lastQuery = query();
    out.replaceChildren(el("p", { class: "muted" }, t("common.loading")));
    try {
      const plan = await api("POST", "/api/v1/leasing/quotes", lastQuery);
      if (route) map.removeLayer(route);
      route = BReq.routeLayer(plan.geometry).addTo(map);
      map.fitBounds(route.getBounds(), { padding: [40, 40] });
      const subducts = plan.segments.flatMap((s) => (s.subducts || []).map((x) => `${s.code} ${x.duct ?? ""}.${x.position ?? x}`));
      out.replaceChildren(el("div", { class: "card", id: "quote-card" },
        el("div", { class: "big" }, fmt.m(plan.length_m)),
        el("dl", { class: "kv" }, el("dt", {}, t("op.segments")), el("dd", {}, String(plan.segments.length)),
          el("dt", {}, t("op.subducts")), el("dd", { class: "small" }, subducts.slice(0, 6).join(", ") + (subducts.length > 6 ? ` … (+${subducts.length - 6})` : ""))),
        ...BReq.quoteRows(plan.quote)));
      document.getElementById("submit").disabled = false;
    } catch (err) {
      out.replaceChildren(el("p", { class: "alert error", role: "alert" }, problemText(err)));
    }
  });

  document.getElementById("submit").addEventListener("click", async () => {
    const out = document.getElementById("result");
    try {
      const r = await api("POST", "/api/v1/leasing/requests", lastQuery || query());
      toast(t("op.submitted", { ref: r.reference }), "ok");
      out.replaceChildren(el("div", { class: "alert ok", id: "submitted" }, el("strong", {}, t("op.submitted", { ref: r.reference })),
        el("div", {}, `${t("op.hold")}: ${fmt.dateTime(r.hold_expires_at)}`)));
      document.getElementById("submit").disabled = true;
      loadMine();
    } catch (err) { out.replaceChildren(el("p", { class: "alert error", role: "alert" }, problemText(err))); }
  });

  async function loadMine() {
    const box = document.getElementById("mine");
    const rows = await api("GET", "/api/v1/leasing/requests?limit=20");
    box.replaceChildren(...(rows.length ? rows.map((r) => {
      const c = BReq.card(r, { onSelect: (req) => { if (route) map.removeLayer(route); if (req.route) { route = BReq.routeLayer(req.route).addTo(map); map.fitBounds(route.getBounds()); } } });
      const acts = el("div", { class: "actions" });
      const slot = el("div", { class: "confirm-slot" });
      const stop = (fn) => (e) => { e.stopPropagation(); fn(); };
      if (r.status === "offered") acts.append(el("button", { class: "btn primary", type: "button", onclick: stop(() => confirmMove(r, "accept", slot)) }, t("op.accept")));
      if (r.status === "offered" || r.status === "submitted") acts.append(el("button", { class: "btn danger", type: "button", onclick: stop(() => confirmMove(r, "cancel", slot)) }, t("op.cancel")));
      c.append(acts, slot);
      return c;
    }) : [el("p", { class: "muted" }, t("common.none"))]));
  }

  // Accepting makes a lease and cancelling gives the held capacity back: both ask once, in the card itself.
  function confirmMove(r, action, slot) {
    const reason = action === "cancel" ? el("input", { id: `reason-${r.id}`, minlength: 3, maxlength: 2000, placeholder: t("op.cancel_reason_hint") }) : null;
    const msg = el("div", { role: "alert" });
    const yes = el("button", { class: action === "accept" ? "btn primary" : "btn danger", type: "button" }, t(action === "accept" ? "op.accept_yes" : "op.cancel_yes"));
    const no = el("button", { class: "btn", type: "button" }, t("common.cancel"));
    const text = action === "accept"
      ? t("op.accept_confirm", { ref: r.reference, amount: fmt.idr(r.quote && r.quote.annual_total_idr), first: fmt.date(r.first_day) })
      : t("op.cancel_confirm", { ref: r.reference });
    const box = el("div", { class: "alert warn", role: "alertdialog", "aria-label": text }, el("p", {}, text),
      reason ? [el("label", { for: `reason-${r.id}` }, t("op.cancel_reason")), reason] : [], el("div", { class: "actions" }, yes, no), msg);
    box.addEventListener("click", (e) => e.stopPropagation());
    no.addEventListener("click", () => slot.replaceChildren());
    yes.addEventListener("click", async () => {
      const body = action === "cancel" && reason.value.trim() ? { reason: reason.value.trim() } : null;
      try {
        const done = await api("POST", `/api/v1/leasing/requests/${r.id}/${action}`, body);
        toast(t("op.moved", { ref: r.reference, status: t("status." + done.status) }), "ok");
        await loadMine();
        M.refresh();
      } catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))); }
    });
    slot.replaceChildren(box);
    (reason || yes).focus();
  }
  loadMine().catch((err) => toast(problemText(err), "error"));
  if (letter) { drawPicks(); form.requestSubmit(); }  // the letter's route, quoted at once
})();
