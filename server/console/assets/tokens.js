// The API tokens page: list with filters, create (role or custom
// permissions), show the value once, read it back (R9), renew (R10),
// enable with a new expiry (R8), disable, delete.

import { api, all } from "./api.js";
import {
  h, field, checkbox, button, badge, timeEl, emptyRow, debounce, pageHeader, uid,
  formDialog, confirmDialog, secretDialog, expiryPicker, announce, showError, clearError, restoreFocus,
} from "./ui.js";


const pageSize = 50;

export async function tokensPage(root, ctx) {
  if (!ctx.can("api_tokens:view")) {
    root.append(pageHeader("API tokens"), h("p", { text: "Your role cannot view API tokens (it lacks api_tokens:view)." }));
    return;
  }
  const me = ctx.me;
  const manage = ctx.can("api_tokens:manage");
  // The filters survive switching pages, until sign-out.
  ctx.state.tokens ||= { scope: manage ? "all" : "mine", enabled: "", q: "" };
  const filters = ctx.state.tokens;

  // Owner e-mails, when the caller may list users; otherwise "user #id".
  const owners = new Map();
  if (ctx.can("users:view")) {
    try {
      for (const u of await all(api.users)) owners.set(u.id, u.email);
    } catch {
      // the column falls back to ids
    }
  }
  if (me.id) owners.set(me.id, me.email);

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
    if (t.user_id === me.id) return h("span", {}, me.email, h("span", { class: "sub", text: "you" }));
    return h("span", { text: owners.get(t.user_id) || `user #${t.user_id}` });
  }

  function statusBadge(t) {
    if (!t.enabled) return badge("Disabled", "off");
    if (t.expire_at && new Date(t.expire_at).getTime() <= Date.now()) return badge("Expired", "warn");
    return badge("Active", "ok");
  }

  function tokenRow(t) {
    const mine = !t.shared && t.user_id === me.id;
    // R9 and R10: only the owner of a personal token, or an administrator
    // for a shared one, may read the value back or issue a new one.
    const mayReadBack = mine || (t.shared && manage);
    const label = `“${t.realname}”`;
    const actions = [];
    if (mayReadBack) actions.push(button("Show secret", () => showSecret(t), { kind: "row", attrs: { "aria-label": `Show the value of ${label}` } }));
    if (mayReadBack && ctx.can("api_tokens:update")) actions.push(button("Renew", () => renew(t), { kind: "row", attrs: { "aria-label": `Renew ${label}` } }));
    if (ctx.can("api_tokens:update")) {
      actions.push(t.enabled
        ? button("Disable", () => disable(t), { kind: "row", attrs: { "aria-label": `Disable ${label}` }, dataset: { action: "disable" } })
        : button("Enable", () => enable(t), { kind: "row", attrs: { "aria-label": `Enable ${label}` }, dataset: { action: "enable" } }));
    }
    if (ctx.can("api_tokens:delete")) actions.push(button("Delete", () => remove(t), { kind: "row-danger", attrs: { "aria-label": `Delete ${label}` } }));

    return h("tr", { dataset: { tokenId: t.id } },
      h("th", { attrs: { scope: "row" }, class: "cell-name", dataset: { label: "Name" } },
        h("span", { class: "token-name", text: t.realname }),
        h("span", { class: "token-hint mono", text: t.hint }),
        t.backward_compatible ? badge("Backward compatible", "neutral") : null),
      h("td", { dataset: { label: "Owner" }, class: "nowrap" }, ownerCell(t)),
      h("td", { dataset: { label: "Role" }, attrs: { title: t.permissions.join(", ") } },
        t.backward_compatible ? "Owner's role" : ctx.roleLabel(t.source_role)),
      h("td", { dataset: { label: "Expires" }, class: "nowrap" }, timeEl(t.expire_at, "Never", "day")),
      h("td", { dataset: { label: "Last used" }, class: "nowrap" }, timeEl(t.last_used_at, "Never", "relative"), t.last_used_ip ? h("span", { class: "sub mono", text: t.last_used_ip }) : null),
      h("td", { dataset: { label: "Status" }, class: "cell-status nowrap" }, statusBadge(t)),
      h("td", { class: "cell-actions", dataset: { label: "Actions" } }, h("div", { class: "row-actions" }, actions)));
  }

  // After a change the row is redrawn: focus goes to its enable/disable button.
  const rowFocus = (t) => `#tokens-table tr[data-token-id="${t.id}"] [data-action]`;

  async function showSecret(t) {
    clearError();
    try {
      const { secret } = await api.tokenSecret(t.id);
      await secretDialog("Token value", `The value of “${t.realname}”. Treat it like a password.`, secret);
    } catch (err) {
      showError(err);
    }
  }

  async function renew(t) {
    const grace = h("select", { name: "grace" },
      h("option", { value: "0", text: "At once" }),
      h("option", { value: "3600", text: "In 1 hour" }),
      h("option", { value: "86400", text: "In 24 hours" }));
    const renewed = await formDialog(`Renew “${t.realname}”`, {
      body: [
        h("p", { class: "dialog-text", text: "Renewing issues a new value for this token. Its name, permissions and expiry stay." }),
        field("The current value stops working", grace, "A grace period lets you roll the new value out before the old one stops."),
      ],
      submitLabel: "Renew",
      onSubmit: () => api.renewToken(t.id, { grace_period_seconds: Number(grace.value) }),
    });
    if (!renewed) return;
    await load();
    restoreFocus(rowFocus(t));
    await secretDialog("Token renewed", `The new value of “${t.realname}”. Copy it now and replace the old one wherever it is used.`, renewed.secret);
  }

  async function enable(t) {
    const expiry = expiryPicker({ label: "New expiry" });
    const done = await formDialog(`Enable “${t.realname}”`, {
      body: [h("p", { class: "dialog-text", text: "A disabled token needs a new expiry to work again." }), expiry.el],
      submitLabel: "Enable",
      onSubmit: async () => {
        await api.updateToken(t.id, { enabled: true, expire_at: expiry.value() });
        return true;
      },
    });
    if (done) {
      announce(`Token “${t.realname}” enabled.`);
      await load();
      restoreFocus(rowFocus(t));
    }
  }

  async function disable(t) {
    const done = await confirmDialog(`Disable “${t.realname}”?`,
      "Every request made with this token is rejected from now on. You can enable it again later with a new expiry.",
      "Disable token", () => api.updateToken(t.id, { enabled: false }));
    if (done) {
      announce(`Token “${t.realname}” disabled.`);
      await load();
      restoreFocus(rowFocus(t));
    }
  }

  async function remove(t) {
    const done = await confirmDialog(`Delete “${t.realname}”?`,
      "The token is deleted for good and every request made with it is rejected. This cannot be undone.",
      "Delete token", () => api.deleteToken(t.id));
    if (done) {
      announce(`Token “${t.realname}” deleted.`);
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
        h("thead", {}, h("tr", {}, ["Name", "Owner", "Role", "Expires", "Last used", "Status"].map((c) => h("th", { attrs: { scope: "col" }, text: c })),
          h("th", { attrs: { scope: "col" } }, h("span", { class: "visually-hidden", text: "Actions" })))),
        tbody)),
    h("div", { class: "table-foot" }, summary, more));
  await load();
}

// ---- the create dialog ----

// Descriptions of the permissions outside the resource × action grid.
const extraLabels = {
  "api_tokens:manage": "Manage every token of the company and create shared tokens",
  "api_tokens:verify": "Check other tokens for another service (POST /v2/api_tokens/verify)",
};

const gridActions = ["view", "create", "update", "delete"];

const pretty = (resource) => {
  const words = resource.split("_").map((w) => (["api", "ip"].includes(w) ? w.toUpperCase() : w));
  const s = words.join(" ");
  return s.charAt(0).toUpperCase() + s.slice(1);
};

function createTokenDialog(ctx) {
  const name = h("input", { name: "realname", id: "token-name", required: true, maxLength: 200, autocomplete: "off", autofocus: true });

  // Roles the caller can grant in full; the others are listed but disabled.
  const roleSelect = h("select", { name: "role", id: "token-role" },
    ctx.catalog.roles.map((r) => {
      const ok = ctx.canGrant(r.permissions);
      return h("option", { value: r.name, disabled: !ok, text: ok ? r.display_name : `${r.display_name} (exceeds your permissions)` });
    }));
  const grantable = ctx.catalog.roles.filter((r) => ctx.canGrant(r.permissions)).map((r) => r.name);
  roleSelect.value = grantable.includes("auditor") ? "auditor" : grantable[0] || "";
  const roleSummary = h("p", { class: "hint", id: uid("hint") });
  roleSelect.setAttribute("aria-describedby", roleSummary.id);
  const describeRole = () => {
    const r = ctx.role(roleSelect.value);
    roleSummary.textContent = r ? `${r.permissions.length} permissions${r.global ? ", across every tenant" : ""}.` : "";
  };
  roleSelect.addEventListener("change", describeRole);
  describeRole();

  const grid = permissionGrid(ctx);
  const roleBox = h("div", { class: "mode-panel" }, field("Role", roleSelect), roleSummary);
  const customBox = h("div", { class: "mode-panel", hidden: true }, grid.el);

  const modeName = uid("mode");
  const mode = (value, text, checked) => {
    const id = uid("mode");
    return h("div", { class: "radio" },
      h("input", { type: "radio", name: modeName, id, value, checked, onchange: () => {
        roleBox.hidden = value !== "role";
        customBox.hidden = value !== "custom";
      } }),
      h("label", { attrs: { for: id }, text }));
  };
  const startCustom = grantable.length === 0;
  if (startCustom) {
    roleBox.hidden = true;
    customBox.hidden = false;
  }
  const perms = h("fieldset", { class: "fieldset" },
    h("legend", { text: "Permissions" }),
    h("div", { class: "radio-row" }, mode("role", "A role", !startCustom), mode("custom", "Custom permissions", startCustom)),
    roleBox, customBox);

  const expiry = expiryPicker();
  const shared = ctx.can("api_tokens:manage")
    ? checkbox("Shared company token", { name: "shared", id: "token-shared" },
      "Owned by the company, not by you: it keeps working when you leave. Only administrators can read it back.")
    : null;

  return formDialog("Create API token", {
    wide: true,
    body: [field("Name", name, "What will use it, e.g. “CI deploy” or “SIEM export”."), perms, expiry.el, shared?.el],
    submitLabel: "Create token",
    onSubmit: async (form) => {
      const custom = form.querySelector(`input[name="${modeName}"]:checked`).value === "custom";
      const permissions = custom ? grid.value() : [roleSelect.value];
      if (permissions.length === 0 || !permissions[0]) throw new Error("Choose a role or tick at least one permission.");
      const body = { realname: name.value.trim(), permissions, expire_at: expiry.value() };
      if (shared?.input.checked) body.shared = true;
      return api.createToken(body);
    },
  });
}

// permissionGrid is the resource × action table of checkboxes, plus the
// permissions outside it. A box the caller does not hold is disabled (R2).
function permissionGrid(ctx) {
  const held = new Set(ctx.me.permissions);
  const resources = [];
  const extras = [];
  for (const p of ctx.catalog.permissions) {
    const [resource, action] = p.split(":");
    if (gridActions.includes(action)) {
      if (!resources.includes(resource)) resources.push(resource);
    } else {
      extras.push(p);
    }
  }
  const known = new Set(ctx.catalog.permissions);
  const box = (p, label) => h("input", { type: "checkbox", value: p, disabled: !held.has(p), class: "perm",
    attrs: { "aria-label": label } });

  const table = h("table", { class: "perm-grid" },
    h("caption", { class: "visually-hidden", text: "Permissions by resource" }),
    h("thead", {}, h("tr", {}, h("th", { attrs: { scope: "col" }, text: "Resource" }),
      gridActions.map((a) => h("th", { attrs: { scope: "col" }, text: pretty(a) })))),
    h("tbody", {}, resources.map((r) => h("tr", {},
      h("th", { attrs: { scope: "row" }, text: pretty(r) }),
      gridActions.map((a) => {
        const p = `${r}:${a}`;
        return h("td", {}, known.has(p) ? box(p, `${pretty(r)}: ${a}`) : h("span", { class: "muted", attrs: { "aria-label": "not applicable" }, text: "–" }));
      })))));

  const extraList = h("div", { class: "extras" }, extras.map((p) => {
    const c = checkbox(h("span", {}, h("code", { text: p }), " ", extraLabels[p] || ""), { value: p, disabled: !held.has(p), class: "perm" });
    return c.el;
  }));

  const el = h("div", {},
    h("p", { class: "hint", text: "Greyed-out boxes are permissions you do not hold: a token never has more than its creator." }),
    h("div", { class: "grid-wrap" }, table),
    extraList);
  return {
    el,
    value: () => [...el.querySelectorAll("input.perm:checked")].map((i) => i.value),
  };
}
