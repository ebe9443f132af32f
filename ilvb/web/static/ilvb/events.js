// Event fan-out for the Web SDK (ilvb.client.events in the Python SDK).

import { IlvbError } from "./errors.js";
import { log } from "./logs.js";

/** A tiny event emitter; a failing listener is logged, never fatal (mediasoup's safeEmit). */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
  }

  /**
   * Call `fn(data)` for each `name` event ("*" receives `(name, data)`); returns an unsubscriber.
   * @param {string} name @param {Function} fn @returns {() => void}
   */
  on(name, fn) {
    let set = this._listeners.get(name);
    if (!set) {
      set = new Set();
      this._listeners.set(name, set);
    }
    set.add(fn);
    return () => this.off(name, fn);
  }

  /** @param {string} name @param {Function} fn */
  off(name, fn) {
    this._listeners.get(name)?.delete(fn);
  }

  /**
   * Resolve with the next `name` event whose data passes `filter` (reject after timeoutMs).
   * @param {string} name @param {(data: any) => boolean} [filter] @param {number} [timeoutMs]
   * @returns {Promise<any>}
   */
  once(name, filter = (_data) => true, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new IlvbError("timeout", `no ${name} event`)); },
        timeoutMs);
      const off = this.on(name, (/** @type {unknown} */ data) => {
        if (!filter(data)) return;
        clearTimeout(timer); off(); resolve(data);
      });
    });
  }

  /** @param {string} name @param {unknown} [data] */
  emit(name, data) {
    for (const fn of [...(this._listeners.get(name) || [])]) {
      try { fn(data); } catch (e) { log.error(`listener for ${name} failed`, e); }
    }
    for (const fn of [...(this._listeners.get("*") || [])]) {
      try { fn(name, data); } catch (e) { log.error("* listener failed", e); }
    }
  }

  /** @param {string} name */
  listenerCount(name) {
    return this._listeners.get(name)?.size || 0;
  }
}
