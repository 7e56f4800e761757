// The in-app list: my notifications, newest first (unread marked), each opening its page and marked read on the
// way; mark all read; and how I am told by e-mail. Titles come from the server in the page's language.
(function () {
  "use strict";
  const { t, api, fmt, el, problemText, toast, refreshBell } = B;
  const list = document.getElementById("notes");
  const more = document.getElementById("more");
  const unreadOnly = document.getElementById("unread-only");
  let next = null;

  function item(n) {
    const li = el("li", { class: n.read ? "read" : "unread", "data-id": n.id, "data-type": n.type });
    const read = async () => {
      if (li.classList.contains("read")) return;
      await api("POST", `/api/v1/notifications/${n.id}/read`);
      li.classList.replace("unread", "read");
      li.querySelector(".mark")?.remove();
      refreshBell();
    };
    const open = el("a", { class: "btn", href: n.page || "#", onclick: (e) => {
      if (li.classList.contains("read")) return;
      e.preventDefault();
      read().finally(() => { window.location.href = n.page; });
    } }, t("notif.open"));
    const mark = n.read ? null : el("button", { class: "btn mark", type: "button", onclick: () => read().catch((err) => toast(problemText(err), "error")) }, t("notif.mark_read"));
    li.append(
      el("div", {}, el("strong", {}, n.title), n.detail ? el("div", {}, n.detail) : null, el("div", { class: "muted small when" }, fmt.dateTime(n.occurred_at))),
      el("div", { class: "actions" }, n.page ? open : null, mark));
    return li;
  }

  async function load(append) {
    const q = new URLSearchParams({ lang: BEDELAU.lang, limit: "30", unread_only: String(unreadOnly.checked) });
    if (append && next) q.set("before_seq", String(next));
    const page = await api("GET", `/api/v1/notifications?${q}`);
    if (!append) list.replaceChildren();
    list.append(...page.items.map(item));
    if (!list.children.length) list.append(el("li", { class: "muted" }, t("notif.empty")));
    next = page.next_before_seq;
    more.hidden = !next;
  }

  unreadOnly.addEventListener("change", () => load(false).catch((e) => toast(problemText(e), "error")));
  more.addEventListener("click", () => load(true).catch((e) => toast(problemText(e), "error")));
  document.getElementById("mark-all").addEventListener("click", async () => {
    try {
      const r = await api("POST", "/api/v1/notifications/read-all");
      toast(t("notif.marked_all", { n: r.marked }), "ok");
      refreshBell();
      await load(false);
    } catch (e) { toast(problemText(e), "error"); }
  });

  const form = document.getElementById("prefs");
  api("GET", "/api/v1/notifications/preferences").then((p) => {
    form.email_enabled.checked = p.email_enabled;
    form.email_mode.value = p.email_mode;
    form.digest_hour.value = String(p.digest_hour);
    form.language.value = p.language;
    document.getElementById("prefs-email").textContent = p.email ? t("notif.email_to", { email: p.email }) : t("notif.no_email");
  }).catch((e) => toast(problemText(e), "error"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const msg = document.getElementById("prefs-msg");
    try {
      await api("PUT", "/api/v1/notifications/preferences", { email_enabled: form.email_enabled.checked, email_mode: form.email_mode.value,
        digest_hour: Number(form.digest_hour.value), language: form.language.value });
      msg.replaceChildren(el("p", { class: "alert ok" }, t("common.saved")));
    } catch (err) { msg.replaceChildren(el("p", { class: "alert error" }, problemText(err))); }
  });

  load(false).catch((e) => toast(problemText(e), "error"));
})();
