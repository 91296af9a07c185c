// The tenants page, for administrators: the companies in scope (a Global
// Administrator's technical tenant and its tenants), create a tenant,
// rename, disable or enable one.

import { api, all } from "./api.js";
import {
  h, field, button, badge, timeEl, emptyRow, pageHeader, formDialog, confirmDialog, announce, showError, clearError, restoreFocus,
} from "./ui.js";

export async function tenantsPage(root, ctx) {
  const me = ctx.me;
  const tbody = h("tbody");
  const summary = h("p", { class: "table-summary muted", attrs: { "aria-live": "polite" } });
  let byId = new Map();

  async function load() {
    clearError();
    let clients;
    try {
      clients = await all(api.clients);
    } catch (err) {
      showError(err);
      return;
    }
    byId = new Map(clients.map((c) => [c.id, c]));
    tbody.replaceChildren(...clients.map(clientRow));
    if (clients.length === 0) tbody.append(emptyRow(5, "No companies."));
    summary.textContent = `${clients.length} compan${clients.length === 1 ? "y" : "ies"}`;
  }

  function clientRow(c) {
    const own = c.id === me.client_id;
    const actions = [];
    // Nobody disables their own company (it would lock them out).
    if (ctx.can("clients:update")) {
      actions.push(button("Rename", () => rename(c), { kind: "row", dataset: { action: "rename" }, attrs: { "aria-label": `Rename ${c.name}` } }));
    }
    if (ctx.can("clients:update") && !own) {
      actions.push(c.enabled
        ? button("Disable", () => disable(c), { kind: "row", dataset: { action: "disable" }, attrs: { "aria-label": `Disable ${c.name}` } })
        : button("Enable", () => enable(c), { kind: "row", dataset: { action: "enable" }, attrs: { "aria-label": `Enable ${c.name}` } }));
    }
    const kind = c.parent_id ? `Tenant of ${byId.get(c.parent_id)?.name || `#${c.parent_id}`}` : "Company";
    return h("tr", { dataset: { clientId: c.id } },
      h("th", { attrs: { scope: "row" }, class: "cell-name", dataset: { label: "Name" } },
        h("span", { class: "token-name", text: c.name }),
        h("span", { class: "muted small mono", text: `id ${c.id}` }),
        own ? badge("Yours", "info") : null),
      h("td", { dataset: { label: "Kind" }, text: kind }),
      h("td", { dataset: { label: "Created" } }, timeEl(c.created_at, "", "day")),
      h("td", { dataset: { label: "Status" }, class: "cell-status" }, c.enabled ? badge("Enabled", "ok") : badge("Disabled", "off")),
      h("td", { class: "cell-actions", dataset: { label: "Actions" } }, h("div", { class: "row-actions" }, actions)));
  }

  async function rename(c) {
    const name = h("input", { name: "name", required: true, maxLength: 200, autocomplete: "off", autofocus: true, value: c.name });
    const done = await formDialog(`Rename ${c.name}`, {
      body: [field("Name", name, "Users see it in the console and the CLI; its id and everything in it stay.")],
      submitLabel: "Rename",
      onSubmit: async () => {
        const next = name.value.trim();
        if (next === c.name) return false;
        return api.updateClient(c.id, { name: next });
      },
    });
    if (done) {
      announce(`${c.name} is now ${done.name}.`);
      await load();
      restoreFocus(`#tenants-table tr[data-client-id="${c.id}"] [data-action="rename"]`);
    }
  }

  async function disable(c) {
    const done = await confirmDialog(`Disable ${c.name}?`,
      "Every token and session of its users stops working until it is enabled again.",
      "Disable tenant", () => api.updateClient(c.id, { enabled: false }));
    if (done) {
      announce(`${c.name} disabled.`);
      await load();
      restoreFocus(`#tenants-table tr[data-client-id="${c.id}"] [data-action="enable"], #tenants-table tr[data-client-id="${c.id}"] [data-action="disable"]`);
    }
  }

  async function enable(c) {
    try {
      await api.updateClient(c.id, { enabled: true });
      announce(`${c.name} enabled.`);
      await load();
      restoreFocus(`#tenants-table tr[data-client-id="${c.id}"] [data-action="enable"], #tenants-table tr[data-client-id="${c.id}"] [data-action="disable"]`);
    } catch (err) {
      showError(err);
    }
  }

  async function create() {
    const name = h("input", { name: "name", required: true, maxLength: 200, autocomplete: "off", autofocus: true });
    const created = await formDialog("Create tenant", {
      body: [field("Name", name, `A company managed by ${me.client_name}. Create its users on the Users page.`)],
      submitLabel: "Create tenant",
      onSubmit: () => api.createClient({ name: name.value.trim() }),
    });
    if (created) {
      announce(`Tenant ${created.name} created.`);
      await load();
    }
  }

  root.append(
    pageHeader("Tenants", "Companies in your scope. Disabling one stops every credential of its users.",
      ctx.can("clients:create") ? button("Create tenant", create, { kind: "primary", id: "create-tenant" }) : null),
    h("div", { class: "table-wrap" },
      h("table", { class: "table table-cards", id: "tenants-table" },
        h("caption", { class: "visually-hidden", text: "Tenants" }),
        h("thead", {}, h("tr", {}, ["Name", "Kind", "Created", "Status"].map((c) => h("th", { attrs: { scope: "col" }, text: c })),
          h("th", { attrs: { scope: "col" } }, h("span", { class: "visually-hidden", text: "Actions" })))),
        tbody)),
    h("div", { class: "table-foot" }, summary));
  await load();
}
