// The console's shell: sign-in, who you are, sign-out, and the pages.
// Routes are URL fragments (#/tokens, #/users, #/tenants), so the server
// only ever serves one page.

import { api, credential, setUnauthorizedHandler } from "./api.js";
import { h, field, button, showError, clearError, announce } from "./ui.js";
import { tokensPage } from "./tokens.js";
import { usersPage } from "./users.js";
import { tenantsPage } from "./tenants.js";

// ctx is what every page gets: the caller and the permission catalog.
const ctx = {
  me: null, // GET /v2/user
  catalog: null, // GET /v2/permissions
  state: {}, // what pages keep between visits (filters); reset at sign-in
  can(permission) {
    return this.me !== null && this.me.permissions.includes(permission);
  },
  // canGrant: every permission of the list is the caller's (R2).
  canGrant(permissions) {
    return permissions.every((p) => this.me.permissions.includes(p));
  },
  role(name) {
    return this.catalog.roles.find((r) => r.name === name);
  },
  // roleLabel is a role as people read it with its wire value, the one
  // the API, the CLI and the SDK use: "Read Only (auditor)".
  roleLabel(name) {
    if (name === "custom") return "Custom";
    const r = this.role(name);
    return r ? `${r.display_name} (${r.name})` : name;
  },
};

const pages = {
  tokens: { title: "API tokens", allowed: () => true, render: tokensPage },
  users: { title: "Users", allowed: () => ctx.can("users:view"), render: usersPage },
  tenants: { title: "Tenants", allowed: () => ctx.can("clients:create") || ctx.can("clients:update"), render: tenantsPage },
};

const view = () => document.getElementById("view");

async function start() {
  document.getElementById("skip-link").addEventListener("click", (ev) => {
    ev.preventDefault();
    document.getElementById("main").focus();
  });
  setUnauthorizedHandler(() => {
    if (ctx.me) signOut("You were signed out: your credential expired or was disabled. Sign in again.", { remote: false });
  });
  window.addEventListener("hashchange", () => {
    if (ctx.me && location.hash.startsWith("#/")) route(true);
  });
  if (!credential.get()) return showSignIn();
  try {
    await loadIdentity();
  } catch (err) {
    if (err.status !== 401) return showError(err);
    credential.clear();
    return showSignIn("Your sign-in has expired or was ended. Sign in again.");
  }
  route(false);
}

async function loadIdentity() {
  const [me, catalog] = await Promise.all([api.me(), api.permissions()]);
  ctx.me = me;
  ctx.catalog = catalog;
  ctx.state = {};
  renderChrome();
}

// renderChrome fills the top bar: the pages the caller may open, and who it is.
function renderChrome() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("whoami");
  if (!ctx.me) {
    nav.hidden = who.hidden = true;
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  nav.replaceChildren(...Object.entries(pages).filter(([, p]) => p.allowed())
    .map(([name, p]) => h("a", { href: `#/${name}`, class: "nav-link", dataset: { page: name }, text: p.title })));
  const me = ctx.me;
  const shared = me.id === 0;
  const kind = credential.get()?.kind === "token" ? "API token" : "Session";
  who.replaceChildren(
    h("div", { class: "who", id: "who" },
      h("span", { class: "who-name", text: shared ? me.realname : me.email }),
      h("span", { class: "who-meta", text: [shared ? "Shared token" : ctx.roleLabel(me.role), me.client_name, kind].join(" · ") })),
    // Swagger UI, in this tab: it takes its authorization from this tab's
    // session storage, so the reference is signed in as you are.
    h("a", { class: "btn btn-ghost", href: "/api-docs", id: "api-docs-link", text: "API reference" }),
    button("Sign out", () => signOut(), { kind: "ghost", id: "sign-out" }));
  nav.hidden = who.hidden = false;
}

// currentPage is the page the URL fragment names (#/tokens/12: "tokens",
// with params ["12"]), or the caller's home page.
function currentPage() {
  const [name, ...params] = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (pages[name]) return { name, params };
  return { name: homePage(), params: [] };
}

// homePage: the first page the caller's role may open.
function homePage() {
  return Object.keys(pages).find((n) => pages[n].allowed() && (n !== "tokens" || ctx.can("api_tokens:view"))) || "tokens";
}

// route renders the page named by the URL fragment. focus moves the
// keyboard focus to the page title, as a screen reader user expects after
// following a link.
async function route(focus = true) {
  clearError();
  const before = document.activeElement;
  const { name, params } = currentPage();
  const page = pages[name];
  for (const a of document.querySelectorAll(".nav-link")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${page.title} · tokend console`;
  // A fresh container per visit: a page still loading when the user moves
  // on renders into a detached element, not over the next page.
  const root = h("div", { class: "page" });
  view().replaceChildren(root);
  if (!page.allowed()) {
    root.append(h("h1", { id: "page-title", text: page.title, attrs: { tabindex: "-1" } }),
      h("p", { text: "Your role cannot open this page." }));
    return;
  }
  try {
    await page.render(root, ctx, params);
  } catch (err) {
    showError(err);
  }
  // Unless the user has moved the focus while the page loaded: then it
  // stays where they put it.
  const moved = document.activeElement && document.activeElement !== document.body && document.activeElement !== before;
  if (focus && root.isConnected && !moved) document.getElementById("page-title")?.focus();
}

async function signOut(message, { remote = true } = {}) {
  const cred = credential.get();
  if (remote && cred?.kind === "session") {
    try {
      await api.logout();
    } catch {
      // the session may already be gone; signing out locally is what matters
    }
  }
  credential.clear();
  ctx.me = null;
  ctx.state = {};
  // The next person to sign in in this tab starts on their own home page,
  // not on the page (or the token) the previous one had open.
  history.replaceState(null, "", location.pathname + location.search);
  document.querySelectorAll("dialog").forEach((d) => d.close());
  renderChrome();
  showSignIn(message);
  if (!message) announce("Signed out.");
}

// showSignIn offers both ways in: e-mail and password (a 12-hour session,
// R19), or an API token pasted as is.
function showSignIn(message) {
  clearError();
  document.title = "Sign in · tokend console";
  const error = h("p", { class: "form-error", id: "signin-error", attrs: { role: "alert" } }, message || "");

  const email = h("input", { type: "email", name: "email", id: "email", required: true, autocomplete: "username", spellcheck: false });
  const password = h("input", { type: "password", name: "password", id: "password", required: true, autocomplete: "current-password" });
  const passwordForm = h("form", { class: "stack", id: "signin-form", attrs: { "aria-label": "Sign in with e-mail and password" } },
    field("E-mail", email),
    field("Password", password),
    h("button", { type: "submit", class: "btn btn-primary btn-block", id: "signin-submit" }, "Sign in"));

  const token = h("input", { type: "password", name: "token", id: "api-token", required: true, autocomplete: "off", spellcheck: false, class: "mono" });
  const tokenForm = h("form", { class: "stack", id: "token-form", attrs: { "aria-label": "Sign in with an API token" } },
    field("API token", token, "A tkd_… value. It is kept in this tab only, until you sign out or close it."),
    h("button", { type: "submit", class: "btn btn-secondary btn-block", id: "token-submit" }, "Use token"));

  const busy = (form, on) => form.querySelectorAll("button, input").forEach((el) => { el.disabled = on; });
  const kind = (form) => (form === tokenForm ? "token" : "session");

  const enter = async (form, obtain) => {
    error.textContent = "";
    busy(form, true);
    try {
      const [value, credKind] = await obtain();
      credential.set(value, credKind);
      try {
        await loadIdentity();
      } catch (err) {
        credential.clear();
        throw err;
      }
      if (!location.hash.startsWith("#/")) history.replaceState(null, "", `#/${homePage()}`);
      announce(`Signed in as ${ctx.me.email || ctx.me.realname}.`);
      route(true);
    } catch (err) {
      busy(form, false);
      error.textContent = err.status === 401 && kind(form) === "token"
        ? "This API token was not accepted: it is unknown, disabled or expired."
        : err.message;
      (form === passwordForm ? password : token).select();
    }
  };
  passwordForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    enter(passwordForm, async () => {
      const who = email.value.trim();
      const s = await api.login(who, password.value);
      if (!s.password_change_required) return [s.token, "session"];
      // An administrator set this password: it is one-time (R22). The
      // session it opened can only replace it; then sign in with the new one.
      const chosen = await choosePassword();
      credential.set(s.token, "session");
      try {
        await api.changePassword(password.value, chosen);
      } finally {
        credential.clear();
      }
      return [(await api.login(who, chosen)).token, "session"];
    });
  });
  tokenForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    enter(tokenForm, async () => [token.value.trim(), "token"]);
  });

  view().replaceChildren(h("section", { class: "signin", attrs: { "aria-labelledby": "page-title" } },
    h("div", { class: "card signin-card" },
      h("h1", { id: "page-title", attrs: { tabindex: "-1" }, text: "Sign in to tokend" }),
      h("p", { class: "muted", text: "Manage API tokens, users and tenants." }),
      error,
      passwordForm,
      h("div", { class: "divider", attrs: { role: "separator" } }, h("span", { text: "or" })),
      tokenForm)));
  email.focus();
}

// choosePassword asks a user signed in with a one-time password for a
// password of its own, and resolves with it.
function choosePassword() {
  return new Promise((resolve) => {
    const error = h("p", { class: "form-error", attrs: { role: "alert" } });
    const next = h("input", { type: "password", name: "new-password", id: "new-password", required: true, minlength: 12, autocomplete: "new-password" });
    const again = h("input", { type: "password", name: "new-password-again", id: "new-password-again", required: true, autocomplete: "new-password" });
    const form = h("form", { class: "stack", id: "choose-password-form", attrs: { "aria-label": "Choose your password" } },
      field("New password", next, "At least 12 characters. Your administrator will not know it."),
      field("Repeat it", again),
      h("button", { type: "submit", class: "btn btn-primary btn-block", id: "choose-password-submit" }, "Set password and sign in"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (next.value !== again.value) {
        error.textContent = "The two passwords differ.";
        again.select();
        return;
      }
      resolve(next.value);
    });
    view().replaceChildren(h("section", { class: "signin", attrs: { "aria-labelledby": "page-title" } },
      h("div", { class: "card signin-card" },
        h("h1", { id: "page-title", attrs: { tabindex: "-1" }, text: "Choose your password" }),
        h("p", { class: "muted", text: "An administrator set the password you signed in with; it works once. Choose your own to continue." }),
        error, form)));
    next.focus();
  });
}

start();
