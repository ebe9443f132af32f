/**
 * The console's REST client: every call carries the admin key (kept in this tab's
 * sessionStorage, never in a cookie, so another origin can neither read it nor ride on it).
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

export function adminKey() { return sessionStorage.getItem(KEY); }
export function setAdminKey(key) { sessionStorage.setItem(KEY, key); }
export function signOut() { sessionStorage.removeItem(KEY); }

/** `method path` with an optional JSON body; resolves to the parsed reply. */
export async function api(method, path, body) {
  const headers = { "X-Admin-Key": adminKey() || "" };
  const init = { method, headers, credentials: "omit" };
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
