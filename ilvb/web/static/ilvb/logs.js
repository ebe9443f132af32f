// SDK logs and crash reports of the Web SDK (ilvb.client.logs in the Python SDK).
//
//   const logs = new SdkLogs({ level: "debug" }).install();   // + crash reporting
//   logs.context({ room: "math" });                           // ids on every line
//   await logs.uploadPending(client);                         // crash reports of an earlier page
//   await logs.upload(client, { stats: await client.stats() });
//
// The SDK's modules log through `log` below; an installed SdkLogs keeps the newest lines (JSON
// objects with the context ids) at its level and above, and prints them to the console unless
// `console: false`. Tickets, keys, tokens, secrets and ICE passwords are redacted from every line
// and from everything uploaded. Crash reports — an uncaught `error`, an `unhandledrejection`, or
// an error the SDK logs with an exception (a failing event listener) — are kept in localStorage
// (`ilvb.crash.*`) with the recent lines, so a page that died uploads them on its next start.

const LEVELS = /** @type {const} */ ({ debug: 10, info: 20, warn: 30, error: 40 });
/** @typedef {keyof typeof LEVELS} LogLevel */
const CRASH_PREFIX = "ilvb.crash.";
const MAX_CRASHES = 20;
const MAX_UPLOAD_LOG_CHARS = 600_000;

// A JWT anywhere; key=value / "key": "value" pairs whose key names a secret; bearer credentials;
// SDP ICE passwords. The same patterns as the Python SDK's.
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const PAIRS = [
  /((?:ticket|token|secret|password|passwd|api[_-]?key|admin[_-]?key|key|session|authorization|ice-pwd)["']?\s*[:=]\s*["']?)(?:Bearer\s+)?[^\s"',;}&]+/gi,
  /(bearer\s+)[A-Za-z0-9._~+/=-]+/gi,
  /(a=ice-pwd:)\S+/g,
];
const SECRET_KEY = /ticket|token|secret|password|key/i;

/** `text` with tickets, keys, tokens, secrets and ICE passwords replaced by `***`. @param {string} text */
export function redact(text) {
  let out = String(text).replace(JWT, "***");
  for (const p of PAIRS) out = out.replace(p, (_m, keep) => `${keep}***`);
  return out;
}

/** A JSON-able value with every string redacted and secret-named keys blanked. @param {unknown} value @returns {any} */
export function redactTree(value) {
  if (typeof value === "string") return redact(value);
  if (Array.isArray(value)) return value.map(redactTree);
  if (value && typeof value === "object") {
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? "***" : redactTree(v);
    return out;
  }
  return value;
}

/** The runtime the SDK runs in, nothing personal. */
export function environment() {
  const nav = typeof navigator !== "undefined" ? navigator : null;
  return {
    sdk: "web",
    userAgent: nav?.userAgent || "",
    language: nav?.language || "",
    hardwareConcurrency: nav?.hardwareConcurrency || 0,
  };
}

/** @type {SdkLogs | null} the installed sink (one per page, like a logging handler) */
let sink = null;

/** The installed SdkLogs, or null. @returns {SdkLogs | null} */
export function installedLogs() {
  return sink;
}

/** The SDK's logger: its modules write here; lines reach the installed SdkLogs, if any. */
export const log = {
  /** @param {string} msg @param {Record<string, unknown>} [fields] */
  debug(msg, fields) { sink?._write("debug", msg, fields); },
  /** @param {string} msg @param {Record<string, unknown>} [fields] */
  info(msg, fields) { sink?._write("info", msg, fields); },
  /** @param {string} msg @param {Record<string, unknown>} [fields] */
  warn(msg, fields) { sink?._write("warn", msg, fields); },
  /**
   * An error; with `error`, also a crash report (when crash reports are on).
   * @param {string} msg @param {unknown} [error] @param {Record<string, unknown>} [fields]
   */
  error(msg, error, fields) {
    if (!sink) { console.error(`ilvb: ${msg}`, error ?? ""); return; }
    sink._write("error", msg, { ...fields, ...(error ? { exc: describe(error).message } : {}) });
    if (error) sink.writeCrash(error, msg);
  },
};

/** @param {unknown} error @returns {{type: string, message: string, stack: string}} */
function describe(error) {
  const e = /** @type {any} */ (error);
  return {
    type: String(e?.name || typeof error),
    message: String(e?.message ?? e),
    stack: String(e?.stack || ""),
  };
}

/** @param {string} key */
function storageGet(key) {
  try { return globalThis.localStorage?.getItem(key) ?? null; } catch { return null; }
}

export class SdkLogs {
  /**
   * @param {{level?: LogLevel, maxLines?: number, console?: boolean, storage?: Storage | null}} [opts]
   *   `storage`: where crash reports wait for upload (default localStorage; null: memory only)
   */
  constructor(opts = {}) {
    const level = opts.level ?? "info";
    if (!(level in LEVELS)) throw new TypeError(`unknown log level ${level}`);
    this.level = level;
    this.maxLines = opts.maxLines ?? 2000;
    this.toConsole = opts.console ?? true;
    this.storage = opts.storage === undefined ? (globalThis.localStorage ?? null) : opts.storage;
    /** @type {string[]} the newest lines, JSON */
    this.lines = [];
    /** @type {Record<string, string>} */
    this._context = {};
    /** @type {Record<string, unknown>[]} crash reports when there is no storage */
    this._memoryCrashes = [];
    /** @type {(() => void)[]} */
    this._uninstall = [];
  }

  /** Make this the SDK's sink (and catch crashes unless `crashReports: false`). @param {{crashReports?: boolean}} [opts] */
  install(opts = {}) {
    sink = this;
    if (opts.crashReports !== false && typeof window !== "undefined") {
      const onError = (/** @type {ErrorEvent} */ ev) => this.writeCrash(ev.error ?? ev.message, "window.onerror");
      const onRejection = (/** @type {PromiseRejectionEvent} */ ev) =>
        this.writeCrash(ev.reason, "unhandledrejection");
      window.addEventListener("error", onError);
      window.addEventListener("unhandledrejection", onRejection);
      this._uninstall.push(() => {
        window.removeEventListener("error", onError);
        window.removeEventListener("unhandledrejection", onRejection);
      });
    }
    return this;
  }

  /** Stop being the sink and catching crashes. */
  close() {
    if (sink === this) sink = null;
    for (const off of this._uninstall.splice(0)) off();
  }

  /** Change the level. @param {LogLevel} level */
  setLevel(level) {
    if (!(level in LEVELS)) throw new TypeError(`unknown log level ${level}`);
    this.level = level;
  }

  /** Set (or with null, clear) ids put on every line: app_id, room, user_id, session_id. @param {Record<string, string | number | null | undefined>} ids */
  context(ids) {
    for (const [k, v] of Object.entries(ids)) {
      if (v === null || v === undefined) delete this._context[k];
      else this._context[k] = String(v);
    }
  }

  /** Take the ids from a connected client. @param {import("./client.js").Client} client */
  contextFrom(client) {
    this.context({ app_id: client.appId, user_id: client.userId, room: client.room, session_id: client.sessionId });
  }

  /** @param {LogLevel} level @param {string} msg @param {Record<string, unknown>} [fields] */
  _write(level, msg, fields) {
    if (LEVELS[level] < LEVELS[this.level]) return;
    const line = JSON.stringify(redactTree({ t: Date.now() / 1000, level, ...this._context, msg, ...fields }));
    this.lines.push(line);
    if (this.lines.length > this.maxLines) this.lines.splice(0, this.lines.length - this.maxLines);
    if (this.toConsole) (level === "error" ? console.error : level === "warn" ? console.warn : console.log)(`ilvb ${line}`);
  }

  /** Keep a crash report now (redacted error, recent lines, environment). @param {unknown} error @param {string} [where] */
  writeCrash(error, where = "") {
    const report = redactTree({
      kind: "crash",
      created_at: Date.now() / 1000,
      crash: { where, ...describe(error) },
      logs: this.lines.slice(-200).join("\n"),
      environment: environment(),
      session_id: this._context.session_id ?? null,
      room: this._context.room ?? null,
    });
    if (!this.storage) { this._memoryCrashes.push(report); return; }
    try {
      this.storage.setItem(`${CRASH_PREFIX}${Date.now()}.${Math.random().toString(36).slice(2, 8)}`, JSON.stringify(report));
      const keys = this._crashKeys();
      for (const k of keys.slice(0, Math.max(0, keys.length - MAX_CRASHES))) this.storage.removeItem(k);
    } catch {
      this._memoryCrashes.push(report); // storage full or denied
    }
  }

  _crashKeys() {
    const s = this.storage;
    if (!s) return [];
    /** @type {string[]} */
    const keys = [];
    for (let i = 0; i < s.length; i++) {
      const k = s.key(i);
      if (k?.startsWith(CRASH_PREFIX)) keys.push(k);
    }
    return keys.sort();
  }

  /** Crash reports not uploaded yet (of earlier pages, and this one). @returns {Record<string, unknown>[]} */
  pendingCrashes() {
    const stored = this._crashKeys().map((k) => JSON.parse(storageGet(k) || "null")).filter(Boolean);
    return [...stored, ...this._memoryCrashes];
  }

  /** What `upload` sends: the newest lines, `stats`, the environment (redacted). @param {Record<string, unknown>} [stats] */
  bundle(stats = {}) {
    return redactTree({
      kind: "logs",
      created_at: Date.now() / 1000,
      session_id: this._context.session_id ?? null,
      room: this._context.room ?? null,
      logs: this.lines.join("\n").slice(-MAX_UPLOAD_LOG_CHARS),
      stats,
      environment: environment(),
    });
  }

  /** Send a bundle to the client's server; the stored bundle's id. @param {import("./client.js").Client} client @param {Record<string, unknown>} [stats] */
  async upload(client, stats) {
    return client._postLogs(this.bundle(stats));
  }

  /** Upload the waiting crash reports (removed once accepted); their ids. @param {import("./client.js").Client} client */
  async uploadPending(client) {
    const ids = [];
    for (const k of this._crashKeys()) {
      const body = JSON.parse(storageGet(k) || "null");
      if (body) ids.push(await client._postLogs(redactTree(body)));
      this.storage?.removeItem(k);
    }
    while (this._memoryCrashes.length) {
      ids.push(await client._postLogs(/** @type {Record<string, unknown>} */ (this._memoryCrashes[0])));
      this._memoryCrashes.shift();
    }
    return ids;
  }
}
