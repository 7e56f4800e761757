// BEDELAU: how the browser writes numbers, Rupiah, lengths and dates for a person: the same as the server's
// ducting/formats.py, case for case (tests/test_formats.py runs one table through both). The month names and the
// zone come from the server (`formats.browser_config`, in window.BEDELAU.formats), never from here.
// Amounts are rounded as decimal text, half away from zero, never through a float: "-0.5" is "-Rp 1" as in Python.
(function (root) {
  "use strict";
  const NONE = "–";

  // decimal text without an exponent: 1e-7 -> "0.0000001", "1E+3" -> "1000"
  function plain(value) {
    const s = String(value).trim();
    const m = /^([+-]?)(\d*)(?:\.(\d*))?e([+-]?\d+)$/i.exec(s);
    if (!m) return s;
    const digits = (m[2] || "") + (m[3] || "");
    const point = (m[2] || "").length + Number(m[4]);
    let out;
    if (point <= 0) out = "0." + "0".repeat(-point) + digits;
    else if (point >= digits.length) out = digits + "0".repeat(point - digits.length);
    else out = digits.slice(0, point) + "." + digits.slice(point);
    return m[1] + out;
  }

  function increment(digits) {
    const a = digits.split("");
    for (let k = a.length - 1; k >= 0; k--) {
      if (a[k] !== "9") { a[k] = String(Number(a[k]) + 1); return a.join(""); }
      a[k] = "0";
    }
    return "1" + a.join("");
  }

  // {neg, whole, frac}: `value` rounded half away from zero to `decimals` places; null when it is not a number
  function rounded(value, decimals) {
    let s = plain(value);
    let neg = s.startsWith("-");
    if (neg || s.startsWith("+")) s = s.slice(1);
    const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
    if (!m || (m[1] + (m[2] || "")) === "") return null;
    const f = (m[2] || "").padEnd(decimals + 1, "0");
    let digits = (m[1] || "0") + f.slice(0, decimals);
    if (f.charCodeAt(decimals) >= 53) digits = increment(digits); // the first dropped digit is 5 or more
    const whole = digits.slice(0, digits.length - decimals).replace(/^0+(?=\d)/, "");
    const frac = digits.slice(digits.length - decimals);
    if (/^0*$/.test(whole + frac)) neg = false; // -0 is written 0
    return { neg, whole, frac };
  }

  const missing = (x) => x === null || x === undefined || x === "";

  function make(config) {
    const lang = config.lang === "en" ? "en" : "id";
    const [THOUSANDS, POINT] = lang === "en" ? [",", "."] : [".", ","];
    const months = config.months;
    const zone = config.zone;
    const zoneLabel = config.zoneLabel;
    const utcOffset = config.utcOffset;

    function grouped(value, decimals, trim) {
      const r = rounded(value, decimals);
      if (r === null) return String(value);
      const frac = trim ? r.frac.replace(/0+$/, "") : r.frac;
      return (r.neg ? "-" : "") + r.whole.replace(/\B(?=(\d{3})+(?!\d))/g, THOUSANDS) + (frac ? POINT + frac : "");
    }

    // the wall clock of a moment in the zone
    function local(iso) {
      const parts = new Intl.DateTimeFormat("en-GB", { timeZone: zone, year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(iso));
      const g = (type) => (parts.find((p) => p.type === type) || {}).value;
      return { y: g("year"), m: g("month"), d: g("day"), hh: g("hour"), mm: g("minute") };
    }
    const hasTime = (iso) => String(iso).length > 10;
    function ymd(iso) {
      if (hasTime(iso)) { const l = local(iso); return [l.y, l.m, l.d]; }
      return String(iso).slice(0, 10).split("-");
    }

    const f = {
      lang, zone, zoneLabel, utcOffset,
      number(x, opts) {
        const o = opts || {};
        return missing(x) ? NONE : grouped(x, o.decimals || 0, !!o.trim);
      },
      // sen: false (default) whole Rupiah, true always to the sen, null to the sen when there is a fraction
      idr(x, opts) {
        if (missing(x)) return NONE;
        const o = opts || {};
        const sen = o.sen === undefined ? false : o.sen;
        const fraction = /\.\d*[1-9]/.test(plain(x));
        const places = sen || (sen === null && fraction) ? 2 : 0;
        const text = grouped(x, places, false);
        return text.startsWith("-") ? "-Rp " + text.slice(1) : "Rp " + text;
      },
      m(x, opts) {
        const o = opts || {};
        return missing(x) ? NONE : grouped(x, o.decimals === undefined ? 2 : o.decimals, !!o.trim) + " m";
      },
      // a length in metres, written in kilometres: the decimal point moves three places, no float division
      km(metres, opts) {
        if (missing(metres)) return NONE;
        const o = opts || {};
        const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(plain(metres));
        if (!m) return String(metres);
        const whole = (m[2] || "0").padStart(4, "0");
        const km = m[1] + whole.slice(0, -3) + "." + whole.slice(-3) + (m[3] || "");
        return grouped(km, o.decimals === undefined ? 1 : o.decimals, !!o.trim) + " km";
      },
      pct(x, opts) {
        const o = opts || {};
        return missing(x) ? NONE : grouped(x, o.decimals === undefined ? 1 : o.decimals, !!o.trim) + " %";
      },
      monthName(month) { return months[Number(month) - 1]; },
      // "2026-12" or "2026-12-09": the month name and the year
      monthYear(iso) {
        if (missing(iso)) return NONE;
        const [y, m] = ymd(String(iso).length === 7 ? iso + "-01" : iso);
        return `${months[Number(m) - 1]} ${y}`;
      },
      longDate(iso) {
        if (missing(iso)) return NONE;
        const [y, m, d] = ymd(iso);
        return `${Number(d)} ${months[Number(m) - 1]} ${y}`;
      },
      shortDate(iso) {
        if (missing(iso)) return NONE;
        const [y, m, d] = ymd(iso);
        return `${d}-${m}-${y}`;
      },
      dateTime(iso, opts) {
        if (missing(iso)) return NONE;
        if (!hasTime(iso)) return f.shortDate(iso);
        const l = local(iso);
        const text = `${l.d}-${l.m}-${l.y} ${l.hh}:${l.mm}`;
        return (opts || {}).label === false ? text : `${text} ${zoneLabel}`;
      },
      today() { return new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date()); },
    };
    return f;
  }

  root.BFormats = { make, NONE };
})(globalThis);
