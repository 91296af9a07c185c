// The API tokens pages. The list (#/tokens): filters, create (a role or
// custom permissions), enable with a new expiry (R8), disable, delete; a
// token's name opens its page (#/tokens/ID): what it may do, whose it is,
// when it was used and from where, when it stops, why it is disabled, its
// activity; edit (name, permissions, expiry), show the value (R9), renew
// (R10).

import { api, all } from "./api.js";
import {
  h, field, checkbox, button, badge, timeEl, emptyRow, debounce, pageHeader, uid, formatDate, formatRelative,
  formDialog, confirmDialog, secretDialog, expiryPicker, expiryState, announce, showError, clearError, restoreFocus,
} from "./ui.js";

const pageSize = 50;

export async function tokensPage(root, ctx, params = []) {
  if (!ctx.can("api_tokens:view")) {
    root.append(pageHeader("API tokens"), h("p", { text: "Your role cannot view API tokens (it lacks api_tokens:view)." }));
    return;
  }
  if (params.length > 0) return tokenPage(root, ctx, params[0]);
  return tokenList(root, ctx);
}

// ---- names: owners and companies by name, not by id ----

// directory looks up users and companies by id, from the lists the caller
// may read; what it cannot read falls back to "user #id".
async function directory(ctx) {
  const users = new Map();
  const clients = new Map();
  const me = ctx.me;
  if (me.id) users.set(me.id, { id: me.id, email: me.email, realname: me.realname, role: me.role });
  clients.set(me.client_id, { id: me.client_id, name: me.client_name });
  const reads = [];
  if (ctx.can("users:view")) reads.push(all(api.users).then((us) => us.forEach((u) => users.set(u.id, u))).catch(() => {}));
  reads.push(all(api.clients).then((cs) => cs.forEach((c) => clients.set(c.id, c))).catch(() => {}));
  await Promise.all(reads);
  return {
    user: (id) => users.get(id),
    userName: (id) => (users.get(id)?.email || `user #${id}`),
    clientName: (id) => (clients.get(id)?.name || `company #${id}`),
    clients: () => [...clients.values()],
  };
}

// ---- states in words ----

const reasons = {
  manual: "disabled by hand",
  expired: "it expired",
  owner_disabled: "its owner was disabled",
  api_access_off: "its owner (an SSO user) lost API access",
  no_permissions_left: "a role change removed all its permissions",
  out_of_scope: "its owner no longer reaches its company",
  leaked: "its value was reported as leaked",
};
export const reasonText = (r) => reasons[r] || r || "";

function statusBadge(t) {
  if (!t.enabled) return badge(t.disabled_reason === "expired" ? "Expired" : "Disabled", t.disabled_reason === "leaked" ? "danger" : "off");
  if (expiryState(t.expire_at) === "expired") return badge("Expired", "warn");
  return badge("Active", "ok");
}

// expiryCell: the date, how far it is ("in 3 days"), and a flag when it is
// soon (under 7 days) or never.
function expiryCell(t) {
  const state = expiryState(t.expire_at);
  if (state === "never") return h("span", { class: "stacked" }, h("span", { text: "Never" }), badge("Never expires", "caution"));
  const parts = [timeEl(t.expire_at, "", "day"), h("span", { class: "sub", text: formatRelative(t.expire_at) })];
  if (state === "soon" && t.enabled) parts.push(badge("Expires soon", "warn"));
  return h("span", { class: "stacked" }, parts);
}

// ---- the list ----

async function tokenList(root, ctx) {
  const me = ctx.me;
  const manage = ctx.can("api_tokens:manage");
  // The filters survive switching pages, until sign-out.
  ctx.state.tokens ||= { scope: manage ? "all" : "mine", enabled: "", q: "" };
  const filters = ctx.state.tokens;
  const names = await directory(ctx);

  const tbody = h("tbody");
  const summary = h("p", { class: "table-summary muted", attrs: { "aria-live": "polite" } });
  const more = button("Load more", () => load(false), { hidden: true, class: "btn btn-secondary" });
  let cursor = null;
  let shown = 0;
  let latest = 0; // answers to older requests (typing fast) are dropped

  const query = () => {
    const q = { limit: pageSize, q: filters.q.trim(), enabled: filters.enabled };
    if (filters.scope === "mine" && me.id) q.user_id = me.id;
    if (filters.scope === "shared") q.shared = true;
    return q;
  };

  async function load(reset = true) {
    clearError();
    if (reset) cursor = null;
    const mine = ++latest;
    const page = await api.tokens({ ...query(), cursor: reset ? undefined : cursor }).catch((err) => {
      showError(err);
      return null;
    });
    if (!page || mine !== latest) return;
    if (reset) {
      tbody.replaceChildren();
      shown = 0;
    }
    for (const t of page.items) tbody.append(tokenRow(t));
    shown += page.items.length;
    if (shown === 0) tbody.append(emptyRow(7, emptyText()));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    summary.textContent = `${shown} token${shown === 1 ? "" : "s"}${cursor ? " shown" : ""}`;
  }

  const emptyText = () => (filters.q || filters.enabled || (manage && filters.scope !== "all")
    ? "No token matches these filters."
    : "No tokens yet. Create one to call the API from a script.");

  function ownerCell(t) {
    if (t.shared) return badge("Shared", "info");
    if (t.user_id === me.id) return h("span", { class: "wrap" }, me.email, h("span", { class: "sub", text: "you" }));
    return h("span", { class: "wrap", text: names.userName(t.user_id) });
  }

  function tokenRow(t) {
    const label = `“${t.realname}”`;
    const actions = [];
    if (ctx.can("api_tokens:update")) {
      actions.push(t.enabled
        ? button("Disable", () => disable(t), { kind: "row", attrs: { "aria-label": `Disable ${label}` }, dataset: { action: "disable" } })
        : button("Enable", () => enable(t), { kind: "row", attrs: { "aria-label": `Enable ${label}` }, dataset: { action: "enable" } }));
    }
    if (ctx.can("api_tokens:delete")) actions.push(button("Delete", () => remove(t), { kind: "row-danger", attrs: { "aria-label": `Delete ${label}` }, dataset: { action: "delete" } }));

    const state = expiryState(t.expire_at);
    return h("tr", { dataset: { tokenId: t.id, expiry: state } },
      h("th", { attrs: { scope: "row" }, class: "cell-name", dataset: { label: "Name" } },
        h("a", { class: "token-name", href: `#/tokens/${t.id}`, text: t.realname, attrs: { "aria-label": `${t.realname}: details` } }),
        h("span", { class: "token-hint mono", text: t.hint }),
        t.backward_compatible ? badge("Backward compatible", "neutral") : null),
      h("td", { dataset: { label: "Owner" } }, ownerCell(t)),
      h("td", { dataset: { label: "Permissions" }, class: "cell-perms" },
        t.backward_compatible ? "Owner's role" : permissionsSummary(ctx, t)),
      h("td", { dataset: { label: "Expires" }, class: "cell-expiry" }, expiryCell(t)),
      h("td", { dataset: { label: "Last used" }, class: "nowrap" }, timeEl(t.last_used_at, "Never", "relative"), t.last_used_ip ? h("span", { class: "sub mono", text: t.last_used_ip }) : null),
      h("td", { dataset: { label: "Status" }, class: "cell-status" }, h("span", { class: "stacked" }, statusBadge(t),
        !t.enabled && t.disabled_reason && t.disabled_reason !== "expired" ? h("span", { class: "sub", text: reasonText(t.disabled_reason) }) : null)),
      h("td", { class: "cell-actions", dataset: { label: "Actions" } }, h("div", { class: "row-actions" }, actions)));
  }

  // After a change the row is redrawn: focus goes to its enable/disable button.
  const rowFocus = (t) => `#tokens-table tr[data-token-id="${t.id}"] [data-action]`;

  async function enable(t) {
    if (await enableToken(t)) {
      await load();
      restoreFocus(rowFocus(t));
    }
  }

  async function disable(t) {
    if (await disableToken(t)) {
      await load();
      restoreFocus(rowFocus(t));
    }
  }

  async function remove(t) {
    if (await deleteToken(t)) {
      await load();
      restoreFocus("#tokens-table tbody button");
    }
  }

  async function create() {
    const created = await createTokenDialog(ctx);
    if (!created) return;
    filters.q = "";
    search.value = "";
    await load();
    await secretDialog("Token created",
      `“${created.realname}” is ready. Copy its value now and keep it somewhere safe, like a password.`,
      created.secret);
  }

  // ---- filters ----
  const scopeChoices = [["mine", "Mine"], ["shared", "Shared"], ["all", "All"]].filter(([v]) => v !== "mine" || me.id);
  const scopeName = uid("scope");
  const scope = manage
    ? h("fieldset", { class: "segmented" },
      h("legend", { class: "visually-hidden", text: "Whose tokens" }),
      scopeChoices.map(([value, text]) => {
        const id = uid("scope");
        return [
          h("input", { type: "radio", name: scopeName, id, value, checked: filters.scope === value,
            onchange: () => { filters.scope = value; load(); } }),
          h("label", { attrs: { for: id }, text }),
        ];
      }))
    : null;
  const status = h("select", { id: "filter-enabled", onchange: () => { filters.enabled = status.value; load(); } },
    h("option", { value: "", text: "Any status" }),
    h("option", { value: "true", text: "Enabled" }),
    h("option", { value: "false", text: "Disabled" }));
  status.value = filters.enabled;
  const search = h("input", { type: "search", id: "filter-q", placeholder: "Search by name", value: filters.q, autocomplete: "off",
    oninput: debounce(() => { filters.q = search.value; load(); }, 250) });

  root.append(
    pageHeader("API tokens",
      "Tokens let scripts and integrations call the API (X-WallarmApi-Token). A token never has more permissions than its owner.",
      ctx.can("api_tokens:create") ? button("Create token", create, { kind: "primary", id: "create-token" }) : null),
    h("div", { class: "filters", attrs: { role: "search", "aria-label": "Filter tokens" } },
      scope,
      h("div", { class: "filter" }, h("label", { attrs: { for: status.id }, class: "visually-hidden", text: "Status" }), status),
      h("div", { class: "filter filter-grow" }, h("label", { attrs: { for: search.id }, class: "visually-hidden", text: "Search by name" }), search)),
    h("div", { class: "table-wrap" },
      h("table", { class: "table table-cards", id: "tokens-table" },
        h("caption", { class: "visually-hidden", text: "API tokens" }),
        h("thead", {}, h("tr", {}, ["Name", "Owner", "Permissions", "Expires", "Last used", "Status"].map((c) => h("th", { attrs: { scope: "col" }, text: c })),
          h("th", { attrs: { scope: "col" } }, h("span", { class: "visually-hidden", text: "Actions" })))),
        tbody)),
    h("div", { class: "table-foot" }, summary, more));
  await load();
}

// permissionsSummary: the role a token was made from ("Read Only
// (auditor)"), or "Custom" with how many permissions.
function permissionsSummary(ctx, t) {
  if (t.source_role !== "custom") return ctx.roleLabel(t.source_role);
  return h("span", {}, "Custom", h("span", { class: "sub", text: `${expand(ctx, t.permissions).size} permissions` }));
}

// expand: role names to their permissions (R1), as a Set.
function expand(ctx, list) {
  const out = new Set();
  for (const p of list) {
    const role = ctx.role(p);
    if (role) role.permissions.forEach((x) => out.add(x));
    else out.add(p);
  }
  return out;
}

// ---- actions shared by the list and the token's page ----

async function enableToken(t) {
  const expiry = expiryPicker({ label: "New expiration" });
  const leaked = t.disabled_reason === "leaked";
  const done = await formDialog(`Enable “${t.realname}”`, {
    body: [
      leaked
        ? h("p", { class: "dialog-text dialog-warn", text: "This token's value was reported as leaked. Enabling it makes the leaked value work again: renew the token afterwards (or instead) so that only a new value works." })
        : null,
      h("p", { class: "dialog-text", text: "A disabled token needs a new expiry to work again." }),
      expiry.el,
    ],
    submitLabel: leaked ? "Enable the leaked value" : "Enable",
    danger: leaked,
    onSubmit: async () => {
      await api.updateToken(t.id, { enabled: true, expire_at: expiry.value() });
      return true;
    },
  });
  if (done) announce(`Token “${t.realname}” enabled.`);
  return done;
}

async function disableToken(t) {
  const done = await confirmDialog(`Disable “${t.realname}”?`,
    "Every request made with this token is rejected from now on. You can enable it again later with a new expiry.",
    "Disable token", () => api.updateToken(t.id, { enabled: false }));
  if (done) announce(`Token “${t.realname}” disabled.`);
  return done;
}

async function deleteToken(t) {
  const done = await confirmDialog(`Delete “${t.realname}”?`,
    "The token is deleted for good and every request made with it is rejected. This cannot be undone.",
    "Delete token", () => api.deleteToken(t.id));
  if (done) announce(`Token “${t.realname}” deleted.`);
  return done;
}

// ---- a token's page ----

const activityWords = {
  "token.create": "Created",
  "token.update": "Changed",
  "token.enable": "Enabled",
  "token.disable": "Disabled",
  "token.renew": "Renewed",
  "token.delete": "Deleted",
  "token.secret_read": "Value read",
  "token.secret_read_denied": "Value read refused",
  "token.expire": "Expired",
  "token.purge": "Purged",
  "token.owner_cascade": "Changed with its owner",
  "token.leaked": "Reported leaked",
};

async function tokenPage(root, ctx, id) {
  const me = ctx.me;
  const manage = ctx.can("api_tokens:manage");
  let t;
  try {
    t = await api.token(id);
  } catch (err) {
    root.append(backLink(), pageHeader("API token"));
    if (err.status === 404) {
      root.append(h("p", { id: "token-missing", text: "There is no such token, or it is not yours to see." }));
      return;
    }
    throw err;
  }
  const names = await directory(ctx);
  const mine = !t.shared && t.user_id === me.id;
  // R9 and R10: only the owner of a personal token, or an administrator
  // for a shared one, may read the value back or issue a new one.
  const mayReadBack = mine || (t.shared && manage);
  const reload = () => {
    const fresh = h("div", { class: "page" });
    root.replaceWith(fresh);
    return tokenPage(fresh, ctx, id).catch(showError);
  };

  const actions = [];
  if (ctx.can("api_tokens:update")) {
    actions.push(button("Edit", async () => {
      if (await editTokenDialog(ctx, t, names)) {
        announce(`Token “${t.realname}” saved.`);
        await reload();
      }
    }, { kind: "primary", id: "edit-token" }));
  }
  if (mayReadBack) {
    actions.push(button("Show value", async () => {
      clearError();
      try {
        const { secret } = await api.tokenSecret(t.id);
        await secretDialog("Token value", `The value of “${t.realname}”. Treat it like a password.`, secret);
      } catch (err) {
        showError(err);
      }
    }, { id: "show-secret" }));
  }
  if (mayReadBack && ctx.can("api_tokens:update")) actions.push(button("Renew", async () => { if (await renewToken(t)) await reload(); }, { id: "renew-token" }));
  if (ctx.can("api_tokens:update")) {
    actions.push(t.enabled
      ? button("Disable", async () => { if (await disableToken(t)) await reload(); }, { id: "disable-token" })
      : button("Enable", async () => { if (await enableToken(t)) await reload(); }, { id: "enable-token" }));
  }
  if (ctx.can("api_tokens:delete")) {
    actions.push(button("Delete", async () => {
      if (await deleteToken(t)) location.hash = "#/tokens";
    }, { kind: "danger", id: "delete-token" }));
  }

  const notices = [];
  if (!t.enabled) {
    notices.push(h("div", { class: "notice notice-off", id: "token-disabled" },
      h("strong", { text: `Disabled: ${reasonText(t.disabled_reason)}` }),
      t.disabled_at ? h("span", {}, " on ", timeEl(t.disabled_at, "")) : null,
      ". ",
      t.purge_at
        ? h("span", { id: "token-purge" }, "It will be deleted for good on ", timeEl(t.purge_at, "", "day"), ` (${formatRelative(t.purge_at)}) unless it is enabled again.`)
        : null,
      t.disabled_reason === "leaked" ? h("p", { class: "notice-more", text: "Renew it before enabling it: enabling alone brings the leaked value back." }) : null));
  } else if (expiryState(t.expire_at) === "soon") {
    notices.push(h("div", { class: "notice notice-warn", id: "token-expiring" }, h("strong", { text: `Expires ${formatRelative(t.expire_at)}` }), ` (${formatDate(t.expire_at)}). Edit it to give it a new expiry, or create its successor.`));
  } else if (expiryState(t.expire_at) === "never") {
    notices.push(h("div", { class: "notice notice-caution", id: "token-never" }, h("strong", { text: "This token never expires." }), " A forgotten token keeps working: give it an expiry unless something must run unattended for good."));
  }

  const owner = t.shared ? h("span", {}, badge("Shared", "info"), " owned by the company") : userLabel(names, t.user_id, me);
  const details = h("dl", { class: "details", id: "token-details" },
    detail("Owner", owner),
    detail("Company", names.clientName(t.client_id)),
    detail("Permissions from", t.backward_compatible ? "The owner's role (backward compatible, R15)" : t.source_role === "custom" ? "Custom permissions" : ctx.roleLabel(t.source_role)),
    detail("Expires", expiryState(t.expire_at) === "never"
      ? h("span", {}, "Never ", badge("Never expires", "caution"))
      : h("span", {}, timeEl(t.expire_at, ""), ` · ${formatRelative(t.expire_at)}`, expiryState(t.expire_at) === "soon" && t.enabled ? [" ", badge("Expires soon", "warn")] : null)),
    detail("Created", h("span", {}, timeEl(t.created_at, ""), t.created_by ? ` by ${names.userName(t.created_by)}` : "")),
    detail("Renewed", timeEl(t.renewed_at, "Never")),
    detail("Last used", t.last_used_at
      ? h("span", {}, timeEl(t.last_used_at, ""), ` · ${formatRelative(t.last_used_at)}`, t.last_used_ip ? h("span", { class: "mono" }, ` from ${t.last_used_ip}`) : null)
      : h("span", { class: "muted", text: "Never" })),
    detail("Status", h("span", {}, statusBadge(t), !t.enabled ? ` ${reasonText(t.disabled_reason)}` : "")),
    detail("Value", h("span", { class: "mono", text: t.hint })));

  root.append(
    backLink(),
    pageHeader(t.realname, null, actions),
    ...notices,
    h("section", { class: "card section", attrs: { "aria-labelledby": "token-details-title" } },
      h("h2", { id: "token-details-title", text: "Details" }), details),
    h("section", { class: "card section", attrs: { "aria-labelledby": "token-perms-title" } },
      h("h2", { id: "token-perms-title", text: "What it may do" }),
      t.backward_compatible
        ? h("p", { text: "A backward-compatible token has its owner's role, whatever it is at the time of use; its permissions cannot be edited." })
        : permissionTable(ctx, expand(ctx, t.permissions), t.permissions)),
    await activitySection(ctx, t, names));
}

const backLink = () => h("p", { class: "back" }, h("a", { href: "#/tokens", id: "back-to-tokens", text: "← API tokens" }));

function detail(term, value) {
  return h("div", { class: "detail" }, h("dt", { text: term }), h("dd", {}, value));
}

function userLabel(names, id, me) {
  const u = names.user(id);
  if (!u) return names.userName(id);
  return h("span", { class: "wrap" }, u.realname ? `${u.realname} · ` : "", u.email, id === me.id ? h("span", { class: "muted", text: " (you)" }) : null);
}

// permissionTable shows a permission set as resource × action, each cell
// saying yes or no in text (not colour alone), each permission's
// description in its tooltip and in the list below.
function permissionTable(ctx, granted, stored) {
  const { resources, actions, extras, info } = catalogShape(ctx);
  const roles = stored.filter((p) => ctx.role(p));
  const table = h("table", { class: "perm-grid perm-view", id: "token-perms" },
    h("caption", { class: "visually-hidden", text: "Permissions by resource and action" }),
    h("thead", {}, h("tr", {}, h("th", { attrs: { scope: "col" }, text: "Resource" }), actions.map((a) => h("th", { attrs: { scope: "col" }, text: pretty(a) })))),
    h("tbody", {}, resources.map((r) => h("tr", {},
      h("th", { attrs: { scope: "row" }, text: pretty(r) }),
      actions.map((a) => {
        const p = `${r}:${a}`;
        if (!info.has(p)) return h("td", { class: "perm-na", attrs: { "aria-label": "does not exist" }, text: "" });
        const yes = granted.has(p);
        return h("td", { class: yes ? "perm-yes" : "perm-no", dataset: { permission: p }, attrs: { title: `${p}: ${info.get(p).description}` },
          text: yes ? "✓" : "—" }, h("span", { class: "visually-hidden", text: yes ? " granted" : " not granted" }));
      })))));
  const extraList = extras.filter((p) => granted.has(p)).map((p) => h("li", {}, h("code", { text: p }), ` ${info.get(p).description}`));
  const heldList = [...granted].filter((p) => info.has(p)).map((p) => h("li", {}, h("code", { text: p }), ` ${info.get(p).description}`));
  return h("div", {},
    roles.length ? h("p", {}, "From ", roles.map((r) => ctx.roleLabel(r)).join(", "), `: ${granted.size} permissions.`) : h("p", { text: `${granted.size} custom permissions.` }),
    h("div", { class: "grid-wrap" }, table),
    extraList.length ? h("ul", { class: "extras-list" }, extraList) : null,
    h("details", { class: "perm-explained" }, h("summary", { text: `What each of the ${heldList.length} permissions allows` }), h("ul", {}, heldList)));
}

async function activitySection(ctx, t, names) {
  const section = h("section", { class: "card section", attrs: { "aria-labelledby": "token-activity-title" } },
    h("h2", { id: "token-activity-title", text: "Activity" }));
  if (!ctx.can("activity_log:view")) {
    section.append(h("p", { class: "muted", text: "Your role cannot read the activity log (it lacks activity_log:view)." }));
    return section;
  }
  let page;
  try {
    page = await api.activity({ token_id: t.id, limit: 50 });
  } catch (err) {
    section.append(h("p", { class: "form-error", text: err.message }));
    return section;
  }
  const rows = page.items.map((e) => h("tr", { dataset: { action: e.action } },
    h("td", { dataset: { label: "When" }, class: "nowrap" }, timeEl(e.created_at, "")),
    h("td", { dataset: { label: "What" }, text: activityWords[e.action] || e.action }),
    h("td", { dataset: { label: "Who" }, class: "wrap" }, e.actor_user_id ? names.userName(e.actor_user_id) : e.actor_token_id ? `token #${e.actor_token_id}` : "tokend"),
    h("td", { dataset: { label: "From" }, class: "mono" }, e.ip || "—"),
    h("td", { dataset: { label: "Details" }, class: "wrap small" }, Object.entries(e.details || {}).map(([k, v]) => `${k}: ${v}`).join(", "))));
  if (rows.length === 0) rows.push(emptyRow(5, "Nothing recorded yet."));
  section.append(...[h("div", { class: "table-wrap table-flat" },
    h("table", { class: "table table-cards", id: "token-activity" },
      h("caption", { class: "visually-hidden", text: "Activity of this token" }),
      h("thead", {}, h("tr", {}, ["When", "What", "Who", "From", "Details"].map((c) => h("th", { attrs: { scope: "col" }, text: c })))),
      h("tbody", {}, rows))),
  page.next_cursor ? h("p", { class: "muted small", text: "The 50 most recent events." }) : null].filter(Boolean));
  return section;
}

async function renewToken(t) {
  const grace = h("select", { name: "grace", id: "renew-grace" },
    h("option", { value: "0", text: "At once" }),
    h("option", { value: "3600", text: "In 1 hour" }),
    h("option", { value: "86400", text: "In 24 hours" }));
  const renewed = await formDialog(`Renew “${t.realname}”`, {
    body: [
      h("p", { class: "dialog-text", text: "Renewing issues a new value for this token. Its name, permissions and expiry stay." }),
      field("The current value stops working", grace, "A grace period lets you roll the new value out before the old one stops."),
    ],
    submitLabel: "Renew",
    onSubmit: async () => {
      const seconds = Number(grace.value);
      const r = await api.renewToken(t.id, { grace_period_seconds: seconds });
      return { r, until: new Date(Date.now() + seconds * 1000) };
    },
  });
  if (!renewed) return false;
  const old = Number(grace.value) === 0
    ? "The old value has stopped working."
    : `The old value keeps working until ${formatDate(renewed.until.toISOString())}, then stops.`;
  await secretDialog("Token renewed", `The new value of “${t.realname}”. ${old} Copy the new one now and replace the old one wherever it is used.`, renewed.r.secret);
  return true;
}

// ---- create and edit ----

const pretty = (word) => {
  const words = word.split("_").map((w) => (["api", "ip"].includes(w) ? w.toUpperCase() : w));
  const s = words.join(" ");
  return s.charAt(0).toUpperCase() + s.slice(1);
};

// catalogShape: the catalog (GET /v2/permissions) as a grid: resources in
// catalog order, the four grid actions, and the permissions outside it.
function catalogShape(ctx) {
  const gridActions = ["view", "create", "update", "delete"];
  const resources = [];
  const extras = [];
  const info = new Map();
  for (const p of ctx.catalog.permissions) {
    info.set(p.name, p);
    if (gridActions.includes(p.action)) {
      if (!resources.includes(p.resource)) resources.push(p.resource);
    } else {
      extras.push(p.name);
    }
  }
  return { resources, actions: gridActions, extras, info };
}

// permissionsField is the role-or-custom choice of the create and edit
// dialogs. ceiling: the permissions that may be granted (R2, and for an
// edit R20: the owner's role too); initial: the token's list.
function permissionsField(ctx, ceiling, initial) {
  const roleSelect = h("select", { name: "role", id: "token-role" },
    ctx.catalog.roles.map((r) => {
      const ok = r.permissions.every((p) => ceiling.has(p));
      return h("option", { value: r.name, disabled: !ok, title: r.description, text: `${ctx.roleLabel(r.name)}${ok ? "" : " — beyond your permissions"}` });
    }));
  const grantable = ctx.catalog.roles.filter((r) => r.permissions.every((p) => ceiling.has(p))).map((r) => r.name);
  const initialRole = initial && initial.length === 1 && ctx.role(initial[0]) ? initial[0] : null;
  roleSelect.value = initialRole || (grantable.includes("auditor") ? "auditor" : grantable[0] || "");
  const roleSummary = h("p", { class: "hint", id: uid("hint") });
  roleSelect.setAttribute("aria-describedby", roleSummary.id);
  const describeRole = () => {
    const r = ctx.role(roleSelect.value);
    roleSummary.textContent = r ? `${r.description}. ${r.permissions.length} permissions${r.global ? ", across every tenant" : ""}.` : "";
  };
  roleSelect.addEventListener("change", describeRole);
  describeRole();

  const checked = initial && !initialRole ? expand(ctx, initial) : new Set();
  const grid = permissionGrid(ctx, ceiling, checked);
  const roleBox = h("div", { class: "mode-panel" }, field("Role", roleSelect), roleSummary);
  const customBox = h("div", { class: "mode-panel", hidden: true }, grid.el);

  const modeName = uid("mode");
  const startCustom = (initial && !initialRole) || grantable.length === 0;
  const mode = (value, text, on) => {
    const id = uid("mode");
    return h("div", { class: "radio" },
      h("input", { type: "radio", name: modeName, id, value, checked: on, onchange: () => {
        roleBox.hidden = value !== "role";
        customBox.hidden = value !== "custom";
      } }),
      h("label", { attrs: { for: id }, text }));
  };
  roleBox.hidden = startCustom;
  customBox.hidden = !startCustom;
  let changed = false;
  const el = h("fieldset", { class: "fieldset" },
    h("legend", { text: "Permissions" }),
    h("div", { class: "radio-row" }, mode("role", "A role", !startCustom), mode("custom", "Custom permissions", startCustom)),
    roleBox, customBox);
  el.addEventListener("change", () => { changed = true; });
  return {
    el,
    // changed: the user touched the choice (an edit sends permissions only then).
    changed: () => changed,
    value(form) {
      const custom = form.querySelector(`input[name="${modeName}"]:checked`).value === "custom";
      const permissions = custom ? grid.value() : [roleSelect.value];
      if (permissions.length === 0 || !permissions[0]) throw new Error("Choose a role or tick at least one permission.");
      return permissions;
    },
  };
}

function createTokenDialog(ctx) {
  const name = h("input", { name: "realname", id: "token-name", required: true, maxLength: 200, autocomplete: "off", autofocus: true });
  const perms = permissionsField(ctx, new Set(ctx.me.permissions), null);
  const expiry = expiryPicker();
  const shared = ctx.can("api_tokens:manage")
    ? checkbox("Shared company token", { name: "shared", id: "token-shared" },
      "Owned by the company, not by you: it keeps working when you leave. Only administrators can read it back.")
    : null;

  return formDialog("Create API token", {
    wide: true,
    body: [field("Name", name, "What will use it, e.g. “CI deploy” or “SIEM export”."), perms.el, expiry.el, shared?.el],
    submitLabel: "Create token",
    onSubmit: async (form) => {
      const body = { realname: name.value.trim(), permissions: perms.value(form), expire_at: expiry.value() };
      if (shared?.input.checked) body.shared = true;
      return api.createToken(body);
    },
  });
}

// editTokenDialog changes a token's name, permissions and expiry (PUT
// with the fields that changed). Permissions are offered within the
// caller's (R2) and, for a personal token, its owner's current role (R20).
function editTokenDialog(ctx, t, names) {
  const name = h("input", { name: "realname", id: "edit-name", required: true, maxLength: 200, autocomplete: "off", value: t.realname, autofocus: true });
  let ceiling = new Set(ctx.me.permissions);
  if (!t.shared) {
    const ownerRole = ctx.role(names.user(t.user_id)?.role);
    if (ownerRole) ceiling = new Set(ownerRole.permissions.filter((p) => ceiling.has(p)));
  }
  const perms = t.backward_compatible ? null : permissionsField(ctx, ceiling, t.permissions);
  const keep = t.expire_at ? `${formatDate(t.expire_at)} (${formatRelative(t.expire_at)})` : "never expires";
  const expiry = expiryPicker({ label: "Expiration", keep });
  return formDialog(`Edit “${t.realname}”`, {
    wide: true,
    body: [
      field("Name", name),
      perms ? perms.el : h("p", { class: "dialog-text", text: "A backward-compatible token's permissions are its owner's role and cannot be edited (R15)." }),
      expiry.el,
    ],
    submitLabel: "Save changes",
    onSubmit: async (form) => {
      const body = {};
      const realname = name.value.trim();
      if (realname !== t.realname) body.realname = realname;
      if (perms && perms.changed()) {
        const p = perms.value(form);
        const same = p.length === t.permissions.length && p.every((x, i) => x === t.permissions[i]);
        if (!same) body.permissions = p;
      }
      const exp = expiry.value();
      if (exp !== undefined) body.expire_at = exp;
      if (Object.keys(body).length === 0) return false;
      return api.updateToken(t.id, body);
    },
  });
}

// permissionGrid is the resource × action table of checkboxes, plus the
// permissions outside it, every one from the catalog with its description.
// A box outside the ceiling is disabled and says why (R2).
function permissionGrid(ctx, ceiling, checked) {
  const { resources, actions, extras, info } = catalogShape(ctx);
  const box = (p, label) => h("input", { type: "checkbox", value: p, disabled: !ceiling.has(p), checked: checked.has(p) && ceiling.has(p), class: "perm",
    attrs: { "aria-label": `${label}: ${info.get(p).description}${ceiling.has(p) ? "" : " (beyond your permissions)"}`, title: info.get(p).description } });

  const table = h("table", { class: "perm-grid" },
    h("caption", { class: "visually-hidden", text: "Permissions by resource" }),
    h("thead", {}, h("tr", {}, h("th", { attrs: { scope: "col" }, text: "Resource" }),
      actions.map((a) => h("th", { attrs: { scope: "col" }, text: pretty(a) })))),
    h("tbody", {}, resources.map((r) => h("tr", {},
      h("th", { attrs: { scope: "row" }, text: pretty(r) }),
      actions.map((a) => {
        const p = `${r}:${a}`;
        if (!info.has(p)) return h("td", { class: "perm-na" }, h("span", { class: "visually-hidden", text: "does not exist" }));
        return h("td", { class: ceiling.has(p) ? "" : "perm-off" }, box(p, `${pretty(r)}: ${a}`));
      })))));

  const extraList = h("div", { class: "extras" }, extras.map((p) => {
    const c = checkbox(h("span", {}, h("code", { text: p }), " ", info.get(p).description),
      { value: p, disabled: !ceiling.has(p), checked: checked.has(p) && ceiling.has(p), class: "perm" });
    return c.el;
  }));
  const dropped = [...checked].filter((p) => !ceiling.has(p));

  const el = h("div", {},
    h("p", { class: "hint" }, "Hover or focus a box to read what it allows. Crossed-out boxes are permissions you cannot grant: a token never has more than its creator or its owner."),
    dropped.length ? h("p", { class: "hint hint-warn", text: `Saving removes what you cannot grant: ${dropped.join(", ")}.` }) : null,
    h("div", { class: "grid-wrap" }, table),
    extraList);
  return {
    el,
    value: () => [...el.querySelectorAll("input.perm:checked")].map((i) => i.value),
  };
}
