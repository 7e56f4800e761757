// Webhooks of an operator (an admin: of every operator): register one (its secret is shown once), switch it off
// or on, give it a new secret, remove it; and every delivery with its last response, with "Kirim ulang".
(function () {
  "use strict";
  const { t, api, fmt, el, problemText, toast } = B;
  const canWrite = ["operator", "admin"].includes(BEDELAU.role);
  const secretBox = (secret) => el("div", { class: "alert warn", id: "secret-once" }, el("p", {}, t("notif.wh.secret_once")),
    el("p", { class: "secret" }, secret));

  async function loadHooks() {
    const rows = await api("GET", "/api/v1/webhooks");
    const act = (label, fn, cls) => el("button", { class: "btn small-btn " + (cls || ""), type: "button", onclick: async () => {
      try { await fn(); await Promise.all([loadHooks(), loadDeliveries()]); } catch (e) { toast(problemText(e), "error"); }
    } }, label);
    document.getElementById("hooks").replaceChildren(rows.length ? el("table", { class: "grid small" },
      el("thead", {}, el("tr", {}, [t("notif.wh.operator"), t("notif.wh.url"), t("notif.wh.types"), t("notif.del.state"), "SHA-256", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((w) => el("tr", { "data-id": w.id },
        el("td", {}, w.operator), el("td", {}, w.url, w.description ? el("div", { class: "muted" }, w.description) : null),
        el("td", {}, String(w.event_types.length)),
        el("td", {}, el("span", { class: "badge " + (w.active ? "st-delivered" : "st-dead") }, t(w.active ? "notif.wh.active" : "notif.wh.inactive"))),
        el("td", { class: "small" }, w.secret_fingerprint),
        el("td", {}, canWrite ? el("div", { class: "actions" },
          act(t(w.active ? "notif.wh.disable" : "notif.wh.enable"), () => api("PATCH", `/api/v1/webhooks/${w.id}`, { active: !w.active })),
          act(t("notif.wh.rotate"), async () => {
            const r = await api("POST", `/api/v1/webhooks/${w.id}/rotate-secret`);
            document.getElementById("hook-msg")?.replaceChildren(secretBox(r.secret));
          }),
          act(t("notif.wh.remove"), () => api("DELETE", `/api/v1/webhooks/${w.id}`), "danger")) : null))))) : el("p", { class: "muted" }, t("notif.wh.none")));
  }

  async function loadDeliveries() {
    const { items } = await api("GET", "/api/v1/webhooks/deliveries?limit=100");
    const resend = (d) => el("button", { class: "btn small-btn resend", type: "button", onclick: async () => {
      try { await api("POST", `/api/v1/webhooks/deliveries/${d.id}/redeliver`); toast(t("notif.del.resent"), "ok"); await loadDeliveries(); }
      catch (e) { toast(problemText(e), "error"); }
    } }, t("notif.del.resend"));
    document.getElementById("deliveries").replaceChildren(items.length ? el("table", { class: "grid small", id: "delivery-table" },
      el("thead", {}, el("tr", {}, [t("notif.del.when"), t("notif.del.event"), t("notif.del.target"), t("notif.del.state"), t("notif.del.attempts"), t("notif.del.response"), ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, items.map((d) => el("tr", { "data-id": d.id, "data-state": d.state },
        el("td", {}, fmt.dateTime(d.last_attempt_at || d.occurred_at)), el("td", {}, t("notif.type." + d.event_type)),
        el("td", {}, t("notif.channel." + d.channel), el("div", { class: "muted" }, d.target)),
        el("td", {}, el("span", { class: "badge st-" + d.state }, t("notif.del.state." + d.state)),
          d.next_attempt_at ? el("div", { class: "muted" }, t("notif.del.next") + " " + fmt.dateTime(d.next_attempt_at)) : null),
        el("td", { class: "num" }, String(d.attempts)),
        el("td", { class: "response" }, d.last_status ? `HTTP ${d.last_status} ${d.last_response || ""}` : d.last_error || d.last_response || ""),
        el("td", {}, canWrite && d.state !== "sending" ? resend(d) : null))))) : el("p", { class: "muted" }, t("notif.del.none")));
  }

  const form = document.getElementById("hook-form");
  if (form) {
    api("GET", "/api/v1/notifications/event-types").then((types) => {
      document.getElementById("hook-types").replaceChildren(...types.filter((x) => x.audience.includes("operator")).map((x) =>
        el("label", {}, el("input", { type: "checkbox", name: "event_types", value: x.code, checked: true }), " ", BEDELAU.lang === "en" ? x.title_en : x.title_id)));
    }).catch((e) => toast(problemText(e), "error"));
    const pick = document.getElementById("hook-operator");
    if (pick) api("GET", "/api/v1/organisations").then((orgs) => pick.replaceChildren(...orgs.filter((o) => o.kind === "operator")
      .map((o) => el("option", { value: o.code }, `${o.code} · ${o.name}`)))).catch((e) => toast(problemText(e), "error"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const msg = document.getElementById("hook-msg");
      const body = { url: form.url.value.trim(), description: form.description.value.trim() || null,
        event_types: [...form.querySelectorAll("input[name=event_types]:checked")].map((i) => i.value) };
      if (pick) body.operator = pick.value;
      try {
        const created = await api("POST", "/api/v1/webhooks", body);
        msg.replaceChildren(el("p", { class: "alert ok" }, t("notif.wh.added")), secretBox(created.secret));
        form.url.value = ""; form.description.value = "";
        await loadHooks();
      } catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))); }
    });
  }
  Promise.all([loadHooks(), loadDeliveries()]).catch((e) => toast(problemText(e), "error"));
})();
