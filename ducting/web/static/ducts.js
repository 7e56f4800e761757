// The duct editor under a segment's cross-section: lay a duct (its spec brings its subducts, the last `reserve`
// kept for the city) or remove one (If-Match on its version; refused while a subduct is leased or held). A
// refusal is shown under the duct or the form that caused it, not in a corner.
(function () {
  "use strict";
  const { t, api, el, problemList, toast } = B;
  let specCache = null;

  async function specs() {
    // the newest version of each carrier or duct spec; microducts are laid inside carriers, not on their own
    if (!specCache) {
      const all = await api("GET", "/api/v1/network/specs");
      const newest = {};
      for (const s of all) if (s.kind !== "microduct" && (!newest[s.code] || newest[s.code].version < s.version)) newest[s.code] = s;
      specCache = Object.values(newest).sort((a, b) => a.code.localeCompare(b.code));
    }
    return specCache;
  }

  function bores(spec) {
    return spec.children && spec.children.length ? spec.children.reduce((n, c) => n + c.count, 0) : 1;
  }

  function problemBox(err, id) {
    return el("div", { class: "alert error", role: "alert", id },
      el("strong", {}, t("map.error_title")), el("ul", {}, problemList(err).map((x) => el("li", {}, x))));
  }

  function ductRow(d, onChanged) {
    const slot = el("div", { class: "duct-msg" });
    const count = d.subducts.length;
    const row = el("li", { class: "duct-row", "data-duct": String(d.position) },
      el("div", { class: "duct-line" },
        el("span", {}, el("strong", {}, `${t("panel.duct")} ${d.position}`), " · ", d.spec, " · ",
          t("ducts.subducts", { n: count })),
        el("button", { class: "btn danger small-btn", type: "button", "aria-label": t("ducts.remove_aria", { n: d.position }),
          onclick: () => confirmRemove() }, t("ducts.remove"))),
      slot);
    function confirmRemove() {
      const yes = el("button", { class: "btn danger", type: "button", onclick: () => remove() }, t("ducts.remove_yes"));
      const no = el("button", { class: "btn", type: "button", onclick: () => slot.replaceChildren() }, t("common.cancel"));
      slot.replaceChildren(el("div", { class: "alert warn", role: "alertdialog" },
        el("p", {}, t("ducts.remove_confirm", { n: d.position, count })), el("div", { class: "actions" }, yes, no)));
      yes.focus();
    }
    async function remove() {
      try {
        await api("DELETE", `/api/v1/network/ducts/${d.id}`, null, { headers: { "If-Match": `"v${d.version}"` } });
        toast(t("ducts.removed", { n: d.position }), "ok");
        onChanged();
      } catch (err) { slot.replaceChildren(problemBox(err, "duct-error-" + d.position)); }
    }
    return row;
  }

  async function addForm(segmentId, onChanged) {
    const list = await specs();
    const msg = el("div", { class: "form-msg" });
    const spec = el("select", { id: "duct-spec", name: "spec", required: true },
      list.map((s) => el("option", { value: s.code }, `${s.code} · ${t("ducts.subducts", { n: bores(s) })}`)));
    const reserve = el("input", { id: "duct-reserve", name: "reserve", type: "number", min: 0, max: 48, value: 0, required: true });
    const position = el("input", { id: "duct-position", name: "position", type: "number", min: 1, max: 64, placeholder: t("ducts.position_auto") });
    const form = el("form", { class: "duct-add formgrid", "aria-label": t("ducts.add") },
      el("div", { class: "full" }, el("label", { for: "duct-spec" }, t("panel.spec")), spec),
      el("div", {}, el("label", { for: "duct-reserve" }, t("ducts.reserve")), reserve),
      el("div", {}, el("label", { for: "duct-position" }, t("ducts.position")), position),
      el("div", { class: "full actions" }, el("button", { class: "btn primary", type: "submit" }, t("ducts.add"))),
      el("div", { class: "full" }, msg));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { spec: spec.value, reserve: +reserve.value || 0 };
      if (position.value) body.position = +position.value;
      try {
        const d = await api("POST", `/api/v1/network/segments/${segmentId}/ducts`, body);
        toast(t("ducts.added", { n: d.position, spec: d.spec }), "ok");
        onChanged();
      } catch (err) { msg.replaceChildren(problemBox(err, "duct-add-error")); }
    });
    return form;
  }

  // The editor: one row per live duct with its remove button, then the form that lays a new one.
  async function editor(segmentId, onChanged) {
    const ducts = (await api("GET", `/api/v1/network/segments/${segmentId}/ducts`)).filter((d) => d.status !== "decommissioned");
    return el("div", { class: "ducts-editor" },
      el("h4", {}, t("ducts.title")),
      ducts.length ? el("ul", { class: "duct-list" }, ducts.map((d) => ductRow(d, onChanged))) : null,
      await addForm(segmentId, onChanged));
  }

  window.BDucts = { editor };
})();
