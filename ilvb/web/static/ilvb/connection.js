// The signaling connection of the Web SDK (docs/protocol.md, version 1; ilvb.client.connection
// in the Python SDK).

import { IlvbError } from "./errors.js";
import { Emitter } from "./events.js";

export const PROTOCOL_VERSION = 1;

/**
 * A login ticket, or an OpenID Connect ID token of one of the app's identity providers
 * (docs/identity.md).
 * @typedef {string | {idToken: string, appId: string}} Credential
 */

/**
 * Close codes after which the SDK does not try to resume the session (docs/protocol.md): a
 * refused hello (4400 bad protocol, 4401 ticket, 4403 permission) or a session resumed on
 * another socket (4409). Anything else (a drop, 4408 silent, 4429 slow consumer) may resume
 * within the disconnect window.
 */
const FINAL_CLOSE_CODES = [4400, 4401, 4403, 4409];

/** The pause between two resume attempts, in ms. */
const RESUME_RETRY_MS = 500;

/**
 * @typedef {{resolve: (data: any) => void, reject: (error: IlvbError) => void,
 *   timer: ReturnType<typeof setTimeout>}} Pending
 */

/**
 * One signaling session over WebSocket: request/response matching by id, heartbeats, events,
 * and resume within the disconnect window when the socket drops.
 *
 * Every server event, and the connection's own `connection.lost` / `connection.resumed` /
 * `connection.closed`, is emitted as `event` with `{name, data}`.
 */
export class Signaling extends Emitter {
  /** @param {string} url @param {Credential} ticket @param {{requestTimeoutMs?: number, resumeWindowMs?: number}} [opts] */
  constructor(url, ticket, opts = {}) {
    super();
    this.url = url;
    this._ticket = ticket; // a credential: kept private, sent only in hello
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15000;
    this.resumeWindowMs = opts.resumeWindowMs ?? 30000;
    this.userId = "";
    this.appId = "";
    this.session = "";
    this.heartbeatIntervalMs = 10000;
    this._nextId = 1;
    /** @type {Map<number, Pending>} */
    this._pending = new Map();
    /** @type {WebSocket | null} */
    this._ws = null;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this._heartbeat = undefined;
    this.closed = false;
  }

  /**
   * Open the socket and send `hello` (with `resume` when given); resolves with hello's data.
   * @param {string} [resume] @returns {Promise<Record<string, any>>}
   */
  async open(resume) {
    /** @type {WebSocket} */
    const ws = await new Promise((resolve, reject) => {
      /** @type {WebSocket} */
      let sock;
      try { sock = new WebSocket(this.url); } catch (e) {
        reject(new IlvbError("unavailable", `cannot open ${this.url}: ${e}`)); return;
      }
      sock.onopen = () => resolve(sock);
      sock.onerror = () => reject(new IlvbError("unavailable", `cannot connect to ${this.url}`));
    });
    this._ws = ws;
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onclose = (ev) => this._onClose(ws, ev);
    ws.onerror = null;
    const cred = this._ticket;
    /** @type {Record<string, unknown>} */
    const hello = typeof cred === "string"
      ? { protocol: PROTOCOL_VERSION, ticket: cred, platform: "web" }
      : { protocol: PROTOCOL_VERSION, app_id: cred.appId, id_token: cred.idToken, platform: "web" };
    if (resume) hello.resume = resume;
    const data = await this.request("hello", hello);
    this.userId = data.user_id;
    this.appId = data.app_id;
    this.session = data.session;
    this.heartbeatIntervalMs = (data.heartbeat_interval_s || 10) * 1000;
    this._startHeartbeat();
    return data;
  }

  _startHeartbeat() {
    clearInterval(this._heartbeat);
    this._heartbeat = setInterval(() => {
      this.request("ping").catch(() => {});
    }, this.heartbeatIntervalMs);
  }

  /**
   * Send a request and resolve with its response `data`; reject with an IlvbError
   * (`timeout` when no reply comes within requestTimeoutMs, `unavailable` when the
   * connection is not open or is lost meanwhile).
   * @param {string} type @param {Record<string, unknown>} [data] @returns {Promise<any>}
   */
  request(type, data) {
    const ws = this._ws;
    if (this.closed || !ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new IlvbError("unavailable", "the signaling connection is not open"));
    }
    const id = this._nextId++;
    /** @type {{id: number, type: string, data?: Record<string, unknown>}} */
    const frame = { id, type };
    if (data !== undefined) frame.data = data;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new IlvbError("timeout", `${type}: no reply within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify(frame));
    });
  }

  /** @param {string} text */
  _onFrame(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { console.warn("ilvb: bad frame", text); return; }
    if (msg.type === "event") {
      this.emit("event", { name: msg.event, data: msg.data || {} });
      return;
    }
    const pending = this._pending.get(msg.id);
    if (!pending) {
      if (msg.type === "error") this.emit("event", { name: "error", data: IlvbError.fromWire(msg.error) });
      return;
    }
    this._pending.delete(msg.id);
    clearTimeout(pending.timer);
    if (msg.type === "error") pending.reject(IlvbError.fromWire(msg.error));
    else pending.resolve(msg.data || {});
  }

  /** @param {IlvbError} error */
  _failPending(error) {
    for (const [id, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(error);
      this._pending.delete(id);
    }
  }

  /** @param {WebSocket} ws @param {CloseEvent} ev */
  async _onClose(ws, ev) {
    if (ws !== this._ws) return;
    clearInterval(this._heartbeat);
    this._failPending(new IlvbError("unavailable", `signaling closed (${ev.code} ${ev.reason})`));
    if (this.closed) return;
    if (FINAL_CLOSE_CODES.includes(ev.code) || !this.session) {
      this.closed = true;
      this.emit("event", { name: "connection.closed",
        data: { error: new IlvbError("unavailable", `closed by the server: ${ev.code} ${ev.reason}`) } });
      return;
    }
    this.emit("event", { name: "connection.lost", data: { code: ev.code } });
    const deadline = Date.now() + this.resumeWindowMs;
    let lastError = null;
    while (!this.closed && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, RESUME_RETRY_MS));
      try {
        const hello = await this.open(this.session);
        this.emit("event", { name: "connection.resumed", data: { resumed: !!hello.resumed } });
        return;
      } catch (e) { lastError = e; }
    }
    if (!this.closed) {
      this.closed = true;
      this.emit("event", { name: "connection.closed", data: { error: lastError } });
    }
  }

  /**
   * Hand the session a new ticket (`session.refresh`) and use it for later hellos (resume).
   * Resolves with its expiry (seconds since the epoch). @param {string} ticket @returns {Promise<number>}
   */
  async refresh(ticket) {
    const data = await this.request("session.refresh", { ticket });
    this._ticket = ticket;
    return data.expires_at;
  }

  /** Close the socket for good. Idempotent. */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this._heartbeat);
    this._failPending(new IlvbError("unavailable", "the client was closed"));
    try { this._ws?.close(1000, "bye"); } catch { /* already closed */ }
  }
}
