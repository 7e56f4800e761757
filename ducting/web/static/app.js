// BEDELAU: helpers every page shares. The message catalogue, the API client (session cookie + CSRF header),
// display formats (formats.js) and problem+json rendering. No framework, no build step.
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
    // the page's language, so refusals come back in it (the server says problems in the reader's language)
    const headers = Object.assign({ Accept: "application/json, application/problem+json",
      "Accept-Language": document.documentElement.lang || "id" }, opts.headers || {});
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = CSRF;
    let payload = body;
    if (body !== undefined && body !== null && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const res = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
    if (res.status === 401) { window.location.href = "/masuk?next=" + encodeURIComponent(location.pathname); }
    if (!res.ok) {
      let problem;
      try { problem = await res.json(); } catch (e) { problem = { detail: res.statusText }; }
      throw new ApiError(res.status, problem);
    }
    if (opts.raw) return res;
    if (res.status === 204) return null;
    const type = res.headers.get("content-type") || "";
    return type.includes("json") ? res.json() : res.text();
  }

  // Display formats: formats.js, configured by the server (language, month names, the city's zone), so a page
  // writes a number or a date as the server's PDFs and letters do.
  const F = BFormats.make(window.BEDELAU.formats);
  const fmt = {
    idr: F.idr,
    num: F.number,
    m: F.m,
    km: F.km,
    pct: F.pct,
    date(iso) { return iso ? F.shortDate(iso) : t("common.open_ended"); },
    longDate: F.longDate,
    month: F.monthYear,
    dateTime: F.dateTime,
    today: F.today,
    utcOffset: F.utcOffset, // "+07:00": a wall-clock time in the city's zone, as the API wants it
    zoneLabel: F.zoneLabel,
  };

  // A refusal in words: the code's title from the catalogue (the problem registry's, as "err.<code>") and the
  // server's detail, which it already says in the page's language (Accept-Language above) with the problem's facts.
  function problemText(err) {
    const p = (err && err.problem) || {};
    const title = (p.code && I18N["err." + p.code]) || p.title || "";
    const detail = p.detail || (err && err.message) || "";
    // with a list of what blocks, the detail only repeats the list that follows
    if (title && (p.blockers || []).length) return title;
    if (!title || title === detail) return detail;
    return detail ? title + " (" + detail + ")" : title;
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
    for (const b of p.blockers || []) items.push(t("problem.blocked_by", { what: t("blocker." + b.type) !== "blocker." + b.type ? t("blocker." + b.type) : b.type, label: b.label }));
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

  window.B = { t, api, postFile, ApiError, fmt, codeText, problemText, problemList, el, toast, statusBadge, refreshBell, CSRF };
})();
