// The users page, for administrators: list, create, change role, disable
// and enable, reset a password (a one-time password, R22), delete. The server enforces R17 (nobody grants or manages more than
// they hold); the console only greys out what would be refused.

import { api, all } from "./api.js";
import {
  h, field, checkbox, button, badge, timeEl, emptyRow, debounce, pageHeader,
  formDialog, confirmDialog, secretDialog, announce, showError, clearError, restoreFocus,
} from "./ui.js";

// randomPassword: 20 characters from a 56-letter alphabet without look-alikes
// (over 110 bits), drawn without modulo bias.
function randomPassword() {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
  const out = [];
  while (out.length < 20) {
    for (const b of crypto.getRandomValues(new Uint8Array(32))) {
      if (b < 224 && out.length < 20) out.push(alphabet[b % 56]);
    }
  }
  return out.join("");
}

export async function usersPage(root, ctx) {
  const me = ctx.me;
  ctx.state.users ||= { enabled: "", q: "" };
  const filters = ctx.state.users;
  const clients = new Map((await all(api.clients)).map((c) => [c.id, c]));
  const tbody = h("tbody");
  const summary = h("p", { class: "table-summary muted", attrs: { "aria-live": "polite" } });
  const canUpdate = ctx.can("users:update");

  // A role is assignable when the caller holds all of it; global roles
  // only by a caller with a global role (R17).
  const myRoleGlobal = ctx.role(me.role)?.global;
  const assignable = (r) => ctx.canGrant(r.permissions) && (!r.global || myRoleGlobal);

  let latest = 0; // answers to older requests (typing fast) are dropped
  async function load() {
    clearError();
    const mine = ++latest;
    let users;
    try {
      users = await all(api.users, { q: filters.q.trim(), enabled: filters.enabled });
    } catch (err) {
      showError(err);
      return;
    }
    if (mine !== latest) return;
    tbody.replaceChildren(...users.map(userRow));
    if (users.length === 0) tbody.append(emptyRow(6, "No user matches these filters."));
    summary.textContent = `${users.length} user${users.length === 1 ? "" : "s"}`;
  }

  function userRow(u) {
    const self = u.id === me.id;
    const label = u.email;
    // Managing a user more powerful than you is refused (R17).
    const manageable = canUpdate && !self && (ctx.role(u.role) ? assignable(ctx.role(u.role)) : false);
    const actions = [];
    if (manageable) {
      actions.push(button("Change role", () => changeRole(u), { kind: "row", dataset: { action: "role" }, attrs: { "aria-label": `Change the role of ${label}` } }));
      if (!u.sso) actions.push(button("Reset password", () => resetPassword(u), { kind: "row", dataset: { action: "password" }, attrs: { "aria-label": `Reset the password of ${label}` } }));
      actions.push(u.enabled
        ? button("Disable", () => disable(u), { kind: "row", dataset: { action: "disable" }, attrs: { "aria-label": `Disable ${label}` } })
        : button("Enable", () => enable(u), { kind: "row", dataset: { action: "enable" }, attrs: { "aria-label": `Enable ${label}` } }));
    }
    if (manageable && ctx.can("users:delete")) {
      actions.push(button("Delete", () => remove(u), { kind: "row-danger", dataset: { action: "delete" }, attrs: { "aria-label": `Delete ${label}` } }));
    }
    return h("tr", { dataset: { userId: u.id } },
      h("th", { attrs: { scope: "row" }, class: "cell-name", dataset: { label: "User" } },
        h("span", { class: "token-name", text: u.realname }),
        h("span", { class: "muted small", text: u.email }),
        self ? badge("You", "info") : null),
      h("td", { dataset: { label: "Role" } }, ctx.roleLabel(u.role), u.sso ? h("span", { class: "muted", text: " · SSO" }) : null),
      h("td", { dataset: { label: "Company" } }, clients.get(u.client_id)?.name || `#${u.client_id}`),
      h("td", { dataset: { label: "Created" } }, timeEl(u.created_at, "", "day")),
      h("td", { dataset: { label: "Status" }, class: "cell-status" }, u.enabled ? badge("Enabled", "ok") : badge("Disabled", "off")),
      h("td", { class: "cell-actions", dataset: { label: "Actions" } }, h("div", { class: "row-actions" }, actions)));
  }

  const roleSelect = (current) => h("select", { name: "role" }, ctx.catalog.roles.map((r) => {
    const ok = assignable(r);
    return h("option", { value: r.name, disabled: !ok, selected: r.name === current, title: r.description,
      text: ok ? ctx.roleLabel(r.name) : `${ctx.roleLabel(r.name)} — beyond your role` });
  }));

  const rowFocus = (u, action) => `#users-table tr[data-user-id="${u.id}"] [data-action="${action}"]`;

  async function changeRole(u) {
    const select = roleSelect(u.role);
    const done = await formDialog(`Change the role of ${u.email}`, {
      body: [field("Role", select, "Permissions the new role lacks are removed from this user's tokens; a token left with none is disabled.")],
      submitLabel: "Change role",
      onSubmit: async () => {
        if (select.value === u.role) return false;
        await api.updateUser(u.id, { role: select.value });
        return true;
      },
    });
    if (done) {
      announce(`${u.email} is now ${ctx.roleLabel(select.value)}.`);
      await load();
      restoreFocus(rowFocus(u, "role"));
    }
  }

  async function disable(u) {
    const done = await confirmDialog(`Disable ${u.email}?`,
      "They can no longer sign in, their sessions end, and their personal tokens are disabled. Re-enabling the user leaves the tokens disabled.",
      "Disable user", () => api.updateUser(u.id, { enabled: false }));
    if (done) {
      announce(`${u.email} disabled.`);
      await load();
      restoreFocus(rowFocus(u, "enable"));
    }
  }

  // resetPassword sets a one-time password (R22): the user signs in with
  // it once and must choose their own before anything else; their other
  // sessions end. The administrator never learns a password the user keeps.
  async function resetPassword(u) {
    const generated = randomPassword();
    const done = await formDialog(`Reset the password of ${u.email}`, {
      body: [
        h("p", { class: "dialog-text", text: "A one-time password: it signs in once, and only to choose a new password. Their sessions end now; their API tokens keep working." }),
        h("p", { class: "dialog-text", text: "Give it to them over a channel you trust; it is shown once." }),
      ],
      submitLabel: "Reset password",
      danger: true,
      onSubmit: async () => {
        await api.updateUser(u.id, { password: generated });
        return true;
      },
    });
    if (done) {
      await secretDialog("One-time password", `The one-time password of ${u.email}. It works for one sign-in, in which they choose their own.`, generated);
      announce(`The password of ${u.email} was reset.`);
    }
  }

  async function remove(u) {
    const done = await confirmDialog(`Delete ${u.email}?`,
      "The user is deleted for good, with every personal token they own; shared tokens they created stay. This cannot be undone.",
      "Delete user", () => api.deleteUser(u.id));
    if (done) {
      announce(`${u.email} deleted.`);
      await load();
      restoreFocus("#users-table tbody button");
    }
  }

  async function enable(u) {
    try {
      await api.updateUser(u.id, { enabled: true });
      announce(`${u.email} enabled.`);
      await load();
      restoreFocus(rowFocus(u, "disable"));
    } catch (err) {
      showError(err);
    }
  }

  async function create() {
    const email = h("input", { type: "email", name: "email", required: true, autocomplete: "off", autofocus: true, spellcheck: false });
    const realname = h("input", { name: "realname", required: true, maxLength: 200, autocomplete: "off" });
    const defaultRole = ctx.catalog.roles.find((r) => r.name === "analytic" && assignable(r)) || ctx.catalog.roles.find(assignable);
    const role = roleSelect(defaultRole?.name);
    const password = h("input", { type: "password", name: "password", minLength: 8, autocomplete: "new-password" });
    const company = clients.size > 1
      ? h("select", { name: "client_id" }, [...clients.values()].map((c) => h("option", { value: c.id, selected: c.id === me.client_id, text: c.name })))
      : null;
    const sso = checkbox("Signs in with SSO", { name: "sso" });
    const created = await formDialog("Create user", {
      body: [
        field("E-mail", email),
        field("Name", realname),
        field("Role", role),
        company ? field("Company", company) : null,
        field("Password", password, "At least 8 characters. Leave empty for a user who signs in with SSO."),
        sso.el,
      ],
      submitLabel: "Create user",
      onSubmit: async () => {
        const body = { email: email.value.trim(), realname: realname.value.trim(), role: role.value };
        if (password.value) body.password = password.value;
        if (company) body.client_id = Number(company.value);
        if (sso.input.checked) body.sso = true;
        return api.createUser(body);
      },
    });
    if (created) {
      announce(`User ${created.email} created.`);
      await load();
    }
  }

  const status = h("select", { id: "users-enabled", onchange: () => { filters.enabled = status.value; load(); } },
    h("option", { value: "", text: "Any status" }),
    h("option", { value: "true", text: "Enabled" }),
    h("option", { value: "false", text: "Disabled" }));
  status.value = filters.enabled;
  const search = h("input", { type: "search", id: "users-q", placeholder: "Search by e-mail or name", value: filters.q, autocomplete: "off",
    oninput: debounce(() => { filters.q = search.value; load(); }, 250) });

  root.append(
    pageHeader("Users", "People who sign in to tokend and own personal tokens. Nobody can grant more than their own role.",
      ctx.can("users:create") ? button("Create user", create, { kind: "primary", id: "create-user" }) : null),
    h("div", { class: "filters", attrs: { role: "search", "aria-label": "Filter users" } },
      h("div", { class: "filter" }, h("label", { attrs: { for: status.id }, class: "visually-hidden", text: "Status" }), status),
      h("div", { class: "filter filter-grow" }, h("label", { attrs: { for: search.id }, class: "visually-hidden", text: "Search by e-mail or name" }), search)),
    h("div", { class: "table-wrap" },
      h("table", { class: "table table-cards", id: "users-table" },
        h("caption", { class: "visually-hidden", text: "Users" }),
        h("thead", {}, h("tr", {}, ["User", "Role", "Company", "Created", "Status"].map((c) => h("th", { attrs: { scope: "col" }, text: c })),
          h("th", { attrs: { scope: "col" } }, h("span", { class: "visually-hidden", text: "Actions" })))),
        tbody)),
    h("div", { class: "table-foot" }, summary));
  await load();
}
