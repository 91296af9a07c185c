// Small DOM helpers shared by the pages: element building (text nodes and
// properties only, so no value from the API is ever parsed as markup),
// dialogs, messages, dates and the clipboard.

import { ruleLink } from "./api.js";

// h builds an element. props: class, text, attrs (set as attributes),
// dataset, on* (event listeners), anything else as a property.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "attrs") for (const [a, v] of Object.entries(value)) { if (v !== undefined && v !== null && v !== false) el.setAttribute(a, v === true ? "" : v); }
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el[key] = value;
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let idSeq = 0;
export const uid = (p = "f") => `${p}-${++idSeq}`;

// field is a labelled form control with an optional hint, wired for
// assistive technology (label for=, aria-describedby).
export function field(label, control, hint) {
  control.id ||= uid();
  const hintEl = hint ? h("p", { class: "hint", id: uid("hint"), text: hint }) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { attrs: { for: control.id }, text: label }), control, hintEl);
}

// checkbox is a checkbox with its label to the right.
export function checkbox(label, props = {}, hint) {
  const input = h("input", { type: "checkbox", id: uid(), ...props });
  const hintEl = hint ? h("span", { class: "hint", id: uid("hint"), text: hint }) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  return { input, el: h("div", { class: "check" }, input, h("label", { attrs: { for: input.id } }, label, hintEl)) };
}

export function button(text, onclick, { kind = "secondary", type = "button", ...rest } = {}) {
  return h("button", { type, class: `btn btn-${kind}`, onclick, ...rest }, text);
}

// ---- messages ----

const alertEl = () => document.getElementById("alert");

// errorContent is an error in words: the message and, for a rule's
// refusal, a link to what the rule means (it opens in a new tab, so that a
// dialog's half-filled form stays as it was).
export function errorContent(err) {
  const text = err instanceof Error ? err.message : String(err);
  const link = ruleLink(err?.problem);
  if (!link) return [text];
  return [text, " ", h("a", { class: "rule-link", href: link.href, target: "_blank", rel: "noopener",
    text: `Why: rule ${link.rule}${link.title ? ` — ${link.title}` : ""}` })];
}

// showError puts a message in the page's alert region (role=alert).
export function showError(err) {
  if (err && err.handled) return;
  const el = alertEl();
  el.replaceChildren(h("span", {}, errorContent(err)),
    h("button", { type: "button", class: "alert-close", attrs: { "aria-label": "Dismiss message" }, onclick: clearError, text: "×" }));
}

export function clearError() {
  alertEl().replaceChildren();
}

let toastTimer;
// announce shows a short confirmation in the polite status region.
export function announce(text) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.classList.add("visible");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("visible"), 4000);
}

// restoreFocus: when a list reloaded under the keyboard focus (the focused
// button was replaced), put the focus on selector's element, else on the
// page title, so that a keyboard user does not land at the top of the page.
export function restoreFocus(selector) {
  const current = document.activeElement;
  if (current && current !== document.body && current.isConnected) return;
  (document.querySelector(selector) || document.getElementById("page-title"))?.focus();
}

// ---- dialogs ----

// openDialog shows a modal <dialog>. build(dialog, close) returns its
// content. The dialog is removed when closed and focus goes back to the
// element that opened it. Resolves with the value passed to close().
export function openDialog(title, build, { wide = false } = {}) {
  const opener = document.activeElement;
  return new Promise((resolve) => {
    let result;
    const titleId = uid("dlg-title");
    const dialog = h("dialog", { class: wide ? "dialog dialog-wide" : "dialog", attrs: { "aria-labelledby": titleId } });
    const close = (value) => {
      result = value;
      dialog.close();
    };
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
      resolve(result);
    });
    dialog.append(
      h("div", { class: "dialog-head" },
        h("h2", { id: titleId, text: title }),
        h("button", { type: "button", class: "icon-btn", attrs: { "aria-label": "Close" }, onclick: () => close(undefined), text: "×" })),
      build(dialog, close));
    document.body.append(dialog);
    dialog.showModal();
    const first = dialog.querySelector("[autofocus]") || dialog.querySelector(".dialog-body input, .dialog-body select, .dialog-body button, .dialog-foot button");
    if (first) first.focus();
  });
}

// formDialog is a dialog around a form: onSubmit(form) may throw (an
// ApiError); the message is shown inside the dialog and the dialog stays
// open. Resolves with onSubmit's result, or undefined when cancelled.
export function formDialog(title, { body, submitLabel, danger = false, onSubmit, wide = false }) {
  return openDialog(title, (dialog, close) => {
    const error = h("p", { class: "form-error", attrs: { role: "alert" } });
    const submit = h("button", { type: "submit", class: `btn btn-${danger ? "danger" : "primary"}` }, submitLabel);
    const form = h("form", { class: "dialog-form" },
      h("div", { class: "dialog-body" }, body, error),
      h("div", { class: "dialog-foot" }, button("Cancel", () => close(undefined)), submit));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      submit.disabled = true;
      form.setAttribute("aria-busy", "true");
      try {
        const value = await onSubmit(form);
        if (value !== undefined) close(value);
      } catch (err) {
        error.replaceChildren(...errorContent(err));
        const bad = form.querySelector("[aria-invalid=true]");
        if (bad) bad.focus();
      } finally {
        submit.disabled = false;
        form.removeAttribute("aria-busy");
      }
    });
    return form;
  }, { wide });
}

// confirmDialog asks a yes/no question; action runs on yes and its error
// is shown in the dialog. Resolves true when done.
export function confirmDialog(title, message, confirmLabel, action, { danger = true } = {}) {
  return formDialog(title, {
    body: h("p", { class: "dialog-text" }, message),
    submitLabel: confirmLabel,
    danger,
    onSubmit: async () => {
      await action();
      return true;
    },
  });
}

// secretDialog shows a token value once, with a copy button.
export function secretDialog(title, intro, value) {
  return openDialog(title, (dialog, close) => {
    const input = h("input", { class: "secret-value mono", id: "token-value", value, readOnly: true, spellcheck: false, autocomplete: "off", attrs: { "aria-label": "Token value" } });
    const copied = h("span", { class: "copied", attrs: { "aria-live": "polite" } });
    const copyBtn = button("Copy", async () => {
      copied.textContent = (await copyText(value, input)) ? "Copied to clipboard" : "Press Ctrl+C to copy the selected value";
    }, { kind: "primary", id: "copy-token", autofocus: true });
    return h("div", { class: "dialog-form" },
      h("div", { class: "dialog-body" },
        h("p", { class: "dialog-text" }, intro),
        h("div", { class: "secret-row" }, input, copyBtn),
        copied),
      h("div", { class: "dialog-foot" }, button("Done", () => close(true), { kind: "secondary", id: "secret-done" })));
  }, { wide: true });
}

// copyText writes to the clipboard. navigator.clipboard exists only in a
// secure context (https or localhost); elsewhere the value is selected and
// copied the old way.
export async function copyText(text, input) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through
  }
  input.focus();
  input.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

// ---- dates ----

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const relFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export function formatDate(iso) {
  return iso ? dateFormat.format(new Date(iso)) : "";
}

// timeEl is a <time> element for iso in the local time zone, or fallback
// when iso is null. style: "full" (date and time), "day" or "relative"; the
// full date and time is always in the tooltip.
export function timeEl(iso, fallback, style = "full") {
  if (!iso) return h("span", { class: "muted", text: fallback });
  const d = new Date(iso);
  const text = style === "relative" ? formatRelative(iso) : style === "day" ? dayFormat.format(d) : dateFormat.format(d);
  return h("time", { attrs: { datetime: iso, title: dateFormat.format(d) }, text });
}

export function formatRelative(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relFormat.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

// toLocalInput formats a Date for <input type="datetime-local">.
export function toLocalInput(date) {
  const p = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}`;
}

// The expiry presets, as GitHub offers them. The default, 90 days, is the
// CLI's too (tokend tokens create without --expires): a token that is
// forgotten stops by itself, and a quarter is long enough not to be a
// chore. "Never" is offered, and flagged on the list.
export const expiryPresets = [7, 30, 60, 90];
export const defaultExpiryDays = 90;

// expiryPicker chooses an expiry: 7/30/60/90 days from now, a custom date
// and time, or never; with keep, also "unchanged" (the default then).
// value() returns an ISO time in UTC, null for never, undefined for
// unchanged, or throws.
export function expiryPicker({ days = defaultExpiryDays, label = "Expiration", keep = null } = {}) {
  const choice = h("select", { name: "expiry", id: uid("expiry") },
    keep ? h("option", { value: "keep", text: `Unchanged: ${keep}` }) : null,
    expiryPresets.map((d) => h("option", { value: String(d), text: `${d} days` })),
    h("option", { value: "custom", text: "Custom…" }),
    h("option", { value: "never", text: "No expiration" }));
  choice.value = keep ? "keep" : String(days);
  const custom = h("input", { type: "datetime-local", name: "expire_at", id: uid("expiry"),
    min: toLocalInput(new Date()), value: toLocalInput(new Date(Date.now() + days * 86400000)),
    attrs: { "aria-label": "Expiry date and time" } });
  const hint = h("p", { class: "hint", id: uid("hint"), attrs: { "aria-live": "polite" } });
  choice.setAttribute("aria-describedby", hint.id);
  const sync = () => {
    const v = choice.value;
    custom.hidden = v !== "custom";
    custom.required = v === "custom";
    if (v === "keep") hint.textContent = "The expiry stays as it is.";
    else if (v === "never") hint.textContent = "The token works until someone disables or deletes it. Prefer an expiry.";
    else if (v === "custom") hint.textContent = "Your local time. The token stops working at that moment.";
    else hint.textContent = `The token stops working on ${dateFormat.format(new Date(Date.now() + Number(v) * 86400000))}.`;
    hint.classList.toggle("hint-warn", v === "never");
  };
  choice.addEventListener("change", sync);
  sync();
  const el = h("div", { class: "field" },
    h("label", { attrs: { for: choice.id }, text: label }),
    h("div", { class: "expiry-row" }, choice, custom),
    hint);
  return {
    el,
    choice,
    value() {
      const v = choice.value;
      if (v === "keep") return undefined;
      if (v === "never") return null;
      if (v !== "custom") return new Date(Date.now() + Number(v) * 86400000).toISOString();
      const when = new Date(custom.value);
      if (!custom.value || Number.isNaN(when.getTime())) {
        custom.setAttribute("aria-invalid", "true");
        throw new Error("Choose an expiry date and time, or another expiration.");
      }
      if (when.getTime() <= Date.now()) {
        custom.setAttribute("aria-invalid", "true");
        throw new Error("The expiry must be in the future.");
      }
      custom.removeAttribute("aria-invalid");
      return when.toISOString();
    },
  };
}

// expiryState is how soon a token stops: "never", "expired", "soon"
// (within 7 days) or "later".
export const soonMs = 7 * 86400000;
export function expiryState(iso) {
  if (!iso) return "never";
  const left = new Date(iso).getTime() - Date.now();
  if (left <= 0) return "expired";
  return left < soonMs ? "soon" : "later";
}

// badge is a small status pill.
export function badge(text, kind = "neutral") {
  return h("span", { class: `badge badge-${kind}`, text });
}

// emptyRow is a table row spanning every column, for "nothing here".
export function emptyRow(columns, text) {
  return h("tr", { class: "empty" }, h("td", { attrs: { colspan: columns }, text }));
}

// debounce delays f until calls stop for ms.
export function debounce(f, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => f(...args), ms);
  };
}

// pageHeader is a page's title (focused on navigation, for screen readers
// and keyboard users) with its main action.
export function pageHeader(title, description, ...actions) {
  return h("div", { class: "page-head" },
    h("div", {},
      h("h1", { attrs: { tabindex: "-1" }, id: "page-title", text: title }),
      description ? h("p", { class: "page-desc", text: description }) : null),
    h("div", { class: "page-actions" }, actions));
}
