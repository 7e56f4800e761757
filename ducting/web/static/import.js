// The import wizard: 1 upload, 2 the dry-run report (what would change; or every fault with its layer, row, rule
// and message, nothing written), 3 commit the very file that passed. Choosing another file starts again.
(function () {
  "use strict";
  const { t, el, problemText } = B;
  const form = document.getElementById("import-form"), out = document.getElementById("report");
  const commit = document.getElementById("commit");
  let checked = null;  // the File whose dry run passed: only it may be committed

  const step = (n) => [1, 2, 3].forEach((i) => {
    const li = document.getElementById("st" + i);
    if (i === n) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
  });

  function summary(r) {
    const head = el("tr", {}, [t("imp.what"), t("imp.create"), t("imp.update"), t("imp.unchanged")].map((h, i) =>
      el("th", { scope: "col", class: i ? "num" : "" }, h)));
    const line = (label, c) => el("tr", {}, el("td", {}, label), ...[c.create, c.update, c.unchanged].map((v) => el("td", { class: "num" }, String(v))));
    return el("table", { class: "grid summary" }, el("thead", {}, head),
      el("tbody", {}, line(t("imp.nodes"), r.nodes), line(t("imp.segments"), r.segments),
        el("tr", {}, el("td", {}, t("imp.ducts")), el("td", { class: "num" }, String(r.ducts)), el("td", { colspan: 2 }, "")),
        el("tr", {}, el("td", {}, t("imp.subducts")), el("td", { class: "num" }, String(r.subducts)), el("td", { colspan: 2 }, ""))));
  }

  function where(path) {
    // "segments/7" → segment, row 7 (rows count features in the file, nodes first)
    const [layer, row] = String(path || "").split("/");
    return { layer: t("imp.layer." + layer) !== "imp.layer." + layer ? t("imp.layer." + layer) : layer, row: row || "–" };
  }

  function faults(err) {
    const errors = (err.problem && err.problem.errors) || [];
    if (!errors.length) return el("p", { class: "alert error", role: "alert" }, problemText(err));
    const rows = errors.map((e) => {
      const w = where(e.path);
      const rule = B.codeText(e.code);
      return el("tr", {}, el("td", { class: "num" }, w.row), el("td", {}, w.layer),
        el("td", {}, rule, el("br"), el("code", { class: "small" }, e.code)), el("td", {}, e.message));
    });
    return el("div", { class: "card", id: "faults" },
      el("p", { class: "alert error", role: "alert" }, t("imp.failed", { n: errors.length })),
      el("table", { class: "grid small" }, el("thead", {}, el("tr", {}, [t("imp.row"), t("imp.layer"), t("imp.rule"), t("imp.message")]
        .map((h, i) => el("th", { scope: "col", class: i ? "" : "num" }, h)))), el("tbody", {}, rows)));
  }

  async function send(dryRun) {
    const file = dryRun ? form.file.files[0] : checked;
    if (!file) return;
    out.replaceChildren(el("p", { class: "muted" }, t("common.loading")));
    commit.disabled = true;
    try {
      const r = await B.postFile("/api/v1/network/import", file, { dry_run: dryRun, crs: form.crs.value.trim() });
      if (dryRun) {
        step(2); checked = file; commit.disabled = false;
        out.replaceChildren(el("div", { class: "card", id: "dry-run" }, el("p", { class: "alert ok" }, t("imp.ok", { file: file.name })),
          summary(r), el("p", { class: "muted small" }, t("imp.commit_hint"))));
      } else {
        step(3); checked = null;
        out.replaceChildren(el("div", { class: "card", id: "committed" }, el("p", { class: "alert ok", role: "status" }, t("imp.committed", { file: file.name })),
          summary(r), el("p", {}, el("a", { class: "btn", href: "/peta" }, t("imp.to_map")))));
      }
    } catch (err) {
      step(2); checked = null;
      out.replaceChildren(faults(err));
    }
  }

  form.file.addEventListener("change", () => { checked = null; commit.disabled = true; step(1); out.replaceChildren(); });
  form.addEventListener("submit", (e) => { e.preventDefault(); send(true); });
  commit.addEventListener("click", () => send(false));
})();
