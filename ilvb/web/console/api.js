/**
 * The console's REST client. An operator's calls carry the admin key (kept in this tab's
 * sessionStorage, never in a cookie). A customer account's calls ride on its session cookie
 * (HttpOnly, SameSite=Strict) and carry the session's CSRF token, which only this origin can
 * read (it comes in the JSON of /v1/session).
 */

const KEY = "ilvb.console.adminKey";

/** An error from the server: `code` is the machine-readable code of docs/protocol.md;
 * `details` its details (e.g. `{field: "video.fps"}`). */
export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let session = null; // {account, csrf_token, expires_at} of a signed-in customer account

export function adminKey() { return sessionStorage.getItem(KEY); }
export function setAdminKey(key) { sessionStorage.setItem(KEY, key); }
/** The signed-in account (null for the operator or when signed out). */
export function account() { return session && session.account; }
export function setSession(info) { session = info; }
/** Forget the credentials this tab holds (the server's session is ended by signOutEverywhere). */
export function signOut() { sessionStorage.removeItem(KEY); session = null; }

/** Sign out: end the server-side session (if any), then forget the admin key. */
export async function signOutEverywhere() {
  if (session) await api("DELETE", "/v1/session").catch(() => {});
  signOut();
}

/** `method path` with an optional JSON body; resolves to the parsed reply. */
export async function api(method, path, body) {
  const key = adminKey();
  const headers = key ? { "X-Admin-Key": key } : {};
  if (!key && session) headers["X-CSRF-Token"] = session.csrf_token;
  const init = { method, headers, credentials: key ? "omit" : "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const reply = await fetch(path, init);
  const data = reply.status === 204 ? {} : await reply.json().catch(() => ({}));
  if (!reply.ok) {
    const err = data.error || {};
    throw new ApiError(reply.status, err.code || "internal_error", err.message || reply.statusText,
      err.details || {});
  }
  return data;
}
