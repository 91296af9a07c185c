// The tokend API, as the console calls it: same origin, JSON in and out,
// the credential in X-WallarmApi-Token, every error an RFC 9457 problem.

const storageKey = "tokend.console.credential";

// The credential lives in session storage: it survives a reload but not the
// tab, and is never written to a cookie (so no CSRF) or to local storage.
export const credential = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(storageKey) || "null");
    } catch {
      return null;
    }
  },
  // kind is "session" (a tks_ value from /v1/login) or "token" (a pasted API token).
  set(value, kind) {
    sessionStorage.setItem(storageKey, JSON.stringify({ value, kind }));
  },
  clear() {
    sessionStorage.removeItem(storageKey);
  },
};

// ApiError carries the problem document of a failed call.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problemText(problem, status));
    this.status = status;
    this.problem = problem || {};
  }
}

// problemText is what the user reads: the problem's detail, with the field
// problems of a validation error, else its title. A rule's refusal names
// its rule in words and by a link (ruleLink), not as a bare "(R2)".
export function problemText(problem, status) {
  if (!problem) return `The server answered ${status}.`;
  let text = problem.detail || problem.title || `The server answered ${status}.`;
  if (problem.rule) text = text.replace(/\s*\((?:R\d+|§\d+)\)\s*$/, "");
  text = text.charAt(0).toUpperCase() + text.slice(1);
  if (Array.isArray(problem.errors) && problem.errors.length > 0) {
    const fields = problem.errors.map((e) => `${e.field.replace(/^\//, "")}: ${e.message}`);
    if (!fields.every((f) => text.includes(f))) text += ` (${fields.join("; ")})`;
  }
  if (problem.rule && !/[.!?]$/.test(text)) text += ".";
  return text;
}

// ruleLink is where a rule's refusal is explained: the console's rules
// page, at the entry of the problem's code (the last segment of its type
// URI). null for problems that are not a rule's.
export function ruleLink(problem) {
  if (!problem || !problem.rule || typeof problem.type !== "string") return null;
  const code = problem.type.slice(problem.type.lastIndexOf("/") + 1);
  if (!/^[a-z-]+$/.test(code)) return null;
  const base = window.location.pathname.replace(/\/?$/, "/");
  return { href: `${base}rules#${code}`, rule: problem.rule, title: problem.title || "" };
}

// onUnauthorized is called when an authenticated call answers 401: the
// credential expired, was disabled or was deleted.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) {
  onUnauthorized = f;
}

// call sends one request. query drops empty values; anonymous skips the credential.
export async function call(method, path, { body, query, anonymous = false } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
  }
  const headers = { Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const cred = credential.get();
  if (!anonymous && cred) headers["X-WallarmApi-Token"] = cred.value;

  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, { title: "Network error", detail: `tokend did not answer (${err.message}).` });
  }
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const err = new ApiError(res.status, data || { title: res.statusText });
    if (res.status === 401 && !anonymous) {
      // The shell signs out and says why; pages need not show this error.
      err.handled = true;
      onUnauthorized(err);
    }
    throw err;
  }
  return data;
}

export const api = {
  login: (email, password) => call("POST", "/v1/login", { body: { email, password }, anonymous: true }),
  logout: () => call("POST", "/v1/logout"),
  changePassword: (current, next) => call("PUT", "/v1/user/password", { body: { current_password: current, new_password: next } }),
  me: () => call("GET", "/v2/user"),
  permissions: () => call("GET", "/v2/permissions"),

  tokens: (query) => call("GET", "/v2/api_tokens", { query }),
  token: (id) => call("GET", `/v2/api_tokens/${id}`),
  createToken: (body) => call("POST", "/v2/api_tokens", { body }),
  updateToken: (id, body) => call("PUT", `/v2/api_tokens/${id}`, { body }),
  deleteToken: (id) => call("DELETE", `/v2/api_tokens/${id}`),
  tokenSecret: (id) => call("GET", `/v2/api_tokens/${id}/secret`),
  renewToken: (id, body) => call("POST", `/v2/api_tokens/${id}/renew`, { body }),

  users: (query) => call("GET", "/v2/users", { query }),
  createUser: (body) => call("POST", "/v2/users", { body }),
  user: (id) => call("GET", `/v2/users/${id}`),
  updateUser: (id, body) => call("PUT", `/v2/users/${id}`, { body }),
  deleteUser: (id) => call("DELETE", `/v2/users/${id}`),

  activity: (query) => call("GET", "/v2/activity_log", { query }),

  clients: (query) => call("GET", "/v2/clients", { query }),
  createClient: (body) => call("POST", "/v2/clients", { body }),
  updateClient: (id, body) => call("PUT", `/v2/clients/${id}`, { body }),
};

// all follows next_cursor and returns every item of a list (bounded by max).
export async function all(list, query = {}, max = 5000) {
  const items = [];
  let cursor;
  do {
    const page = await list({ ...query, limit: 1000, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}
