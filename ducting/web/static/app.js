// BEDELAU: helpers every page shares. The message catalogue, the API client (session cookie + CSRF header),
// display formats (Rupiah, WIB) and problem+json rendering. No framework, no build step.
(function () {
  "use strict";
  const I18N = JSON.parse(document.getElementById("i18n").textContent);
  const CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function t(key, values) {
    let text = I18N[key] !== undefined ? I18N[key] : key;
    if (values) for (const [k, v] of Object.entries(values)) text = text.split("{" + k + "}").join(String(v));
    return text;
  }

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || "HTTP " + status);
      this.status = status;
      this.problem = problem || {};
    }
  }

  async function api(method, path, body, opts) {
    opts = opts || {};
    const headers = Object.assign({ Accept: "application/json, application/problem+json" }, opts.headers || {});
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = CSRF;
    let payload = body;
    if (body !== undefined && body !== null && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const res = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
    if (res.status === 401) { window.location.href = "/masuk?next=" + encodeURIComponent(location.pathname); }
    if (!res.ok) {
      let problem = null;
      try { problem = await res.json(); } catch (e) { problem = { detail: res.statusText }; }
      throw new ApiError(res.status, problem);
    }
    if (opts.raw) return res;
    if (res.status === 204) return null;
    const type = res.headers.get("content-type") || "";
    return type.includes("json") ? res.json() : res.text();
  }

  const WIB = "Asia/Jakarta";
  const fmt = {
    idr(x) {
      if (x === null || x === undefined || x === "") return "–";
      const n = Math.round(Number(x));
      const s = Math.abs(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ".");
      return (n < 0 ? "-" : "") + "Rp " + s;
    },
    wib(iso) {
      if (!iso) return "–";
      const d = new Date(iso);
      const p = new Intl.DateTimeFormat("id-ID", { timeZone: WIB, day: "2-digit", month: "2-digit", year: "numeric",
        hour: "2-digit", minute: "2-digit", hour12: false }).formatToParts(d);
      const g = (type) => (p.find((x) => x.type === type) || {}).value;
      return `${g("day")}-${g("month")}-${g("year")} ${g("hour")}:${g("minute")} WIB`;
    },
    date(iso) {
      if (!iso) return t("common.open_ended");
      const [y, m, d] = String(iso).slice(0, 10).split("-");
      return `${d}-${m}-${y}`;
    },
    m(x) { return x === null || x === undefined ? "–" : Number(x).toLocaleString("id-ID", { maximumFractionDigits: 1 }) + " m"; },
    km(metres) { return metres === null || metres === undefined ? "–" : (Number(metres) / 1000).toLocaleString("id-ID", { maximumFractionDigits: 1 }) + " km"; },
    todayWib() { return new Intl.DateTimeFormat("en-CA", { timeZone: WIB }).format(new Date()); },
  };

  // The server's `detail` is English. Where the catalogue has a template for a code ("err.<code>.detail...") whose
  // every {name} the problem carries as a member, the detail is said in the reader's language instead:
  // {name|prefix} translates the value as "<prefix>.<value>", {name|date} writes a date.
  function problemDetail(p) {
    if (!p || !p.code) return null;
    const keys = Object.keys(I18N).filter((k) => k.startsWith("err." + p.code + ".detail")).sort();
    for (const key of keys) {
      const names = [...I18N[key].matchAll(/\{(\w+)(?:\|([\w.]+))?\}/g)];
      if (!names.every((m) => p[m[1]] !== undefined && p[m[1]] !== null)) continue;
      return I18N[key].replace(/\{(\w+)(?:\|([\w.]+))?\}/g, (_, name, how) =>
        how === "date" ? fmt.date(p[name]) : how ? t(how + "." + p[name]) : String(p[name]));
    }
    return null;
  }

  function problemText(err) {
    const p = (err && err.problem) || {};
    const known = p.code && I18N["err." + p.code];
    const detail = problemDetail(p) || p.detail || (err && err.message) || "";
    // the server's detail is English; with a translated code and a list of what blocks, it only repeats the list
    if (known && (p.blockers || []).length) return known;
    return known ? (detail ? known + " (" + detail + ")" : known) : detail;
  }

  // a problem or field-error code in words (the catalogue's "err.<code>"), else the code itself
  function codeText(code) {
    return I18N["err." + code] || code;
  }

  // A file upload (multipart "file") to an import endpoint, with query parameters; empty ones are left out.
  function postFile(path, file, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v !== null && v !== undefined) q.set(k, String(v));
    const data = new FormData();
    data.append("file", file);
    return api("POST", q.toString() ? `${path}?${q}` : path, data);
  }

  function problemList(err) {
    const p = (err && err.problem) || {};
    const items = (p.errors || []).map((e) => codeText(e.code) + ": " + e.message);
    // a refused delete names what still depends on the object
    for (const b of p.blockers || []) items.push(t("err.blocked_by", { what: t("blocker." + b.type) !== "blocker." + b.type ? t("blocker." + b.type) : b.type, label: b.label }));
    if (items.length && p.blockers && p.blockers.length) items.unshift(problemText(err));
    return items.length ? items : [problemText(err) || err.message];
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function toast(message, kind) {
    let box = document.getElementById("toasts");
    if (!box) { box = el("div", { id: "toasts", role: "status", "aria-live": "polite" }); document.body.append(box); }
    const item = el("div", { class: "toast " + (kind || "info") }, message);
    box.append(item);
    setTimeout(() => item.remove(), 6000);
  }

  function statusBadge(status) { return el("span", { class: "badge st-" + status }, t("status." + status)); }

  // The bell on every signed-in page: the unread count, refreshed each minute and whenever a page marks something read.
  function refreshBell() {
    const bell = document.getElementById("bell");
    if (!bell) return Promise.resolve();
    return api("GET", "/api/v1/notifications/unread-count").then(({ unread }) => {
      const badge = document.getElementById("bell-count");
      badge.textContent = unread > 99 ? "99+" : String(unread);
      badge.hidden = !unread;
      bell.dataset.unread = String(unread);
      bell.setAttribute("aria-label", unread ? t("notif.bell_unread", { n: unread }) : t("notif.bell"));
    }).catch(() => {});  // the count is a convenience; the page works without it
  }
  if (document.getElementById("bell")) { refreshBell(); setInterval(refreshBell, 60000); }

  window.B = { t, api, postFile, ApiError, fmt, codeText, problemText, problemDetail, problemList, el, toast, statusBadge, refreshBell, CSRF };
})();
