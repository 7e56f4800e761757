// The attribute panel: a feature's attributes and edit form, its ducts as a readable cross-section (which
// subduct, whose, until when), and its history. A stale edit (412) says who changed it and offers a reload.
(function () {
  "use strict";
  const { t, api, fmt, el, problemText, statusBadge, toast } = B;
  const STATE_COLOURS = { free: "#2f9e44", held: "#f59f00", leased: "#1c7ed6", reserved: "#868e96", unavailable: "#c92a2a" };

  const areaNames = {};  // kelurahan code → name, filled by the page that loads the list
  function area(code) { return !code ? "–" : areaNames[code] ? `${areaNames[code]} (${code})` : code; }

  function row(label, value) { return el("tr", {}, el("th", { scope: "row" }, label), el("td", {}, value)); }

  function crossSection(occ) {
    const wrap = el("div", { class: "xsection" });
    occ = Object.assign({}, occ, { ducts: occ.ducts.filter((d) => d.status !== "decommissioned") });  // removed ducts stay in history only
    if (!occ.ducts.length) { wrap.append(el("p", { class: "muted" }, t("panel.no_ducts"))); return wrap; }
    const ns = "http://www.w3.org/2000/svg";
    const size = 92, gap = 10;
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", occ.ducts.length * (size + gap));
    svg.setAttribute("height", size + 18);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("panel.xsection_aria"));
    occ.ducts.forEach((d, i) => {
      const cx = i * (size + gap) + size / 2, cy = size / 2, R = size / 2 - 2;
      const outer = document.createElementNS(ns, "circle");
      Object.entries({ cx, cy, r: R, fill: "#f8f9fa", stroke: "#495057", "stroke-width": 2 }).forEach(([k, v]) => outer.setAttribute(k, v));
      svg.append(outer);
      const n = d.subducts.length;
      d.subducts.forEach((s, j) => {
        let x = cx, y = cy, r = R * 0.8;
        if (n > 1) {
          const ring = n <= 7 ? R * 0.55 : R * 0.62;
          r = Math.min(R * 0.42, Math.PI * ring / n * 0.9);
          const a = -Math.PI / 2 + (2 * Math.PI * j) / n;
          x = cx + ring * Math.cos(a); y = cy + ring * Math.sin(a);
        }
        const c = document.createElementNS(ns, "circle");
        Object.entries({ cx: x, cy: y, r, fill: STATE_COLOURS[s.state] || "#ccc", stroke: "#fff", "stroke-width": 1.5 }).forEach(([k, v]) => c.setAttribute(k, v));
        const title = document.createElementNS(ns, "title");
        title.textContent = `${t("panel.duct")} ${d.position}.${s.position} · ${t("occ." + s.state)}`;
        c.append(title);
        svg.append(c);
        const label = document.createElementNS(ns, "text");
        Object.entries({ x, y: y + 4, "text-anchor": "middle", "font-size": 11, fill: "#fff", "font-weight": 700 }).forEach(([k, v]) => label.setAttribute(k, v));
        label.textContent = s.position;
        svg.append(label);
      });
      const cap = document.createElementNS(ns, "text");
      Object.entries({ x: cx, y: size + 14, "text-anchor": "middle", "font-size": 11, fill: "#343a40" }).forEach(([k, v]) => cap.setAttribute(k, v));
      cap.textContent = `${t("panel.duct")} ${d.position}`;
      svg.append(cap);
    });
    wrap.append(svg);
    const legend = el("div", { class: "xlegend" }, Object.entries(STATE_COLOURS).map(([k, c]) =>
      el("span", {}, el("i", { style: `background:${c}` }), t("occ." + k))));
    wrap.append(legend);
    const table = el("table", { class: "grid small" },
      el("thead", {}, el("tr", {}, [t("panel.subduct"), t("panel.spec"), t("panel.state"), t("panel.whose"), t("panel.until")].map((h) => el("th", { scope: "col" }, h)))));
    const body = el("tbody");
    for (const d of occ.ducts) for (const s of d.subducts) {
      const h = (s.holdings || [])[0] || {};
      const whose = h.operator || (h.status === "occupied" ? t("occ.someone") : s.state === "reserved" ? t("occ.city") : "–");
      const until = h.status === "held" && h.hold_expires_at ? t("panel.hold_until", { when: fmt.dateTime(h.hold_expires_at, { label: false }) })
        : h.since ? fmt.date(h.until) : "–";
      body.append(el("tr", {}, el("td", {}, `${d.position}.${s.position}`), el("td", {}, s.spec),
        el("td", {}, el("span", { class: "badge occ-" + s.state }, t("occ." + s.state))), el("td", {}, whose), el("td", {}, until)));
    }
    table.append(body);
    wrap.append(table);
    return wrap;
  }

  // field names and values in the reader's language where the catalogue knows them
  const FIELD_KEYS = { length_m: "attr.length", zone_class: "attr.zone", trench_type: "attr.trench", kelurahan_kode: "attr.kelurahan" };
  function fieldName(k) { const key = FIELD_KEYS[k] || "attr." + k; return t(key) !== key ? t(key) : k; }
  function shown(k, v) {
    if (v === null || v === undefined || v === "") return "–";
    const prefix = { status: "status.", zone_class: "zone.", trench_type: "trench.", kind: "kind." }[k];
    return prefix && t(prefix + v) !== prefix + v ? t(prefix + v) : String(v);
  }

  function historyList(entries) {
    const list = el("ol", { class: "history", "aria-label": t("panel.history") });
    for (const e of entries.slice().reverse()) {
      const action = e.action.toLowerCase();
      const changes = Object.entries(e.changes || {}).filter(([k]) => k !== "geom" || action !== "insert");
      list.append(el("li", {},
        el("div", { class: "hhead" }, el("strong", {}, t("action." + action)), " · ", e.username || t("history.system"),
          " · ", el("time", { datetime: e.at }, fmt.dateTime(e.at)), e.version ? ` · v${e.version}` : ""),
        action === "update" && changes.length ? el("ul", { class: "changes" }, changes.map(([k, v]) => el("li", {}, el("span", { class: "field" }, fieldName(k)), ": ",
          k === "geom" ? t("history.geometry_changed") : `${shown(k, v.old)} → ${shown(k, v.new)}`))) : null));
    }
    return list;
  }

  function conflictBox(err, reload) {
    const p = err.problem || {};
    return el("div", { class: "alert warn", role: "alert" },
      el("strong", {}, t("conflict.title")), el("p", {}, t("conflict.body", { who: p.changed_by || t("history.system"),
        when: fmt.dateTime(p.changed_at), version: p.current_version })),
      el("button", { class: "btn", type: "button", onclick: reload }, t("conflict.reload")));
  }

  async function show(target, opts) {
    opts = opts || {};
    const body = document.getElementById("panel-body");
    body.replaceChildren(el("p", { class: "muted" }, t("common.loading")));
    const kind = target.type === "node" ? "nodes" : "segments";
    const asOf = opts.asOf ? `?as_of=${encodeURIComponent(opts.asOf)}` : "";
    let f;
    try {
      f = opts.asOf ? await api("GET", `/api/v1/collections/${kind}/items/${target.id}${asOf}`)
                    : await api("GET", `/api/v1/network/${kind}/${target.id}`);
    } catch (err) {
      const gone = err.status === 404 && opts.asOf;  // on the slider: the feature did not exist at that moment
      body.replaceChildren(el("p", { class: gone ? "alert warn" : "alert error", id: "panel-missing" },
        gone ? t("panel.not_at_time", { when: fmt.dateTime(opts.asOf) }) : problemText(err)));
      return;
    }
    const p = f.properties;
    const reload = () => show(target, opts);
    const parts = [el("h2", {}, p.code, " ", statusBadge(p.status))];
    const attrs = el("table", { class: "attrs" });
    if (target.type === "segment") {
      attrs.append(row(t("attr.length"), fmt.m(p.length_m)), row(t("attr.zone"), t("zone." + p.zone_class)),
        row(t("attr.trench"), t("trench." + p.trench_type)), row(t("attr.ends"), `${p.start_node || "#" + p.start_node_id} → ${p.end_node || "#" + p.end_node_id}`),
        row(t("attr.kelurahan"), area(p.kelurahan)));
    } else {
      attrs.append(row(t("attr.kind"), t("kind." + p.kind)), row(t("attr.kelurahan"), area(p.kelurahan)));
    }
    attrs.append(row(t("attr.version"), "v" + p.version));
    if (p.updated_at) attrs.append(row(t("attr.updated"), fmt.dateTime(p.updated_at)));
    parts.push(attrs);

    if (opts.editable && !opts.asOf) {
      const msg = el("div", { class: "form-msg", role: "alert" });
      const form = el("form", { class: "edit", "aria-label": t("panel.edit") },
        el("label", { for: "f-status" }, t("attr.status")),
        el("select", { id: "f-status", name: "status" }, B.vocabulary("lifecycle").map((s) =>
          el("option", { value: s, selected: s === p.status }, t("status." + s)))),
        el("label", { for: "f-notes" }, t("attr.notes")),
        el("textarea", { id: "f-notes", name: "notes", rows: 2 }, p.notes || ""),
        el("button", { class: "btn primary", type: "submit" }, t("common.save")), msg);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const data = { status: form.status.value, notes: form.notes.value || null };
        try {
          await api("PATCH", `/api/v1/network/${kind}/${target.id}`, data, { headers: { "If-Match": `"v${p.version}"` } });
          toast(t("common.saved"), "ok");
          if (opts.onChanged) opts.onChanged();
          reload();
        } catch (err) {
          msg.replaceChildren(err.status === 412 ? conflictBox(err, reload) : el("p", { class: "alert error" }, problemText(err)));
        }
      });
      parts.push(el("h3", {}, t("panel.edit")), form);
    }
    if (target.type === "segment" && !opts.asOf) {
      parts.push(el("h3", {}, t("panel.xsection")));
      const slot = el("div", { id: "xsection" }, el("p", { class: "muted" }, t("common.loading")));
      parts.push(slot);
      const changed = () => { if (opts.onChanged) opts.onChanged(); reload(); };
      Promise.all([api("GET", `/api/v1/leasing/segments/${target.id}/occupancy`),
                   opts.editable && window.BDucts ? BDucts.editor(target.id, changed) : null])
        .then(([occ, editor]) => slot.replaceChildren(crossSection(occ), editor || ""))
        .catch((err) => slot.replaceChildren(el("p", { class: "alert error" }, problemText(err))));
    }
    if (!opts.asOf) {
      parts.push(el("h3", { id: "history-title" }, t("panel.history")));
      const slot = el("div", { id: "history" }, el("p", { class: "muted" }, t("common.loading")));
      parts.push(slot);
      api("GET", `/api/v1/network/${kind}/${target.id}/history`).then((h) => slot.replaceChildren(historyList(h)))
        .catch((err) => slot.replaceChildren(el("p", { class: "muted" }, problemText(err))));
    }
    body.replaceChildren(...parts);
    return f;
  }

  B.vocabulary = (name) => BEDELAU.vocab[name] || [];
  window.BPanel = { show, crossSection, conflictBox, STATE_COLOURS, areaNames };
})();
