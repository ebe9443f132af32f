// Media path watch and ICE restart (docs/protocol.md "Media path loss and ICE restart";
// ilvb.client.reconnect in the Python SDK).
//
// Every POLL_MS the watch reads each peer connection's `transport` stats (packets received:
// media, RTCP, STUN responses, and the SFU's keepalive receiver report twice a second). A
// connection that received nothing for LOST_AFTER_MS has lost its path (Chromium's own
// iceConnectionState "disconnected" comes later, after 2.5-5 s): the client emits
// `media.reconnecting` and restarts ICE on it, staying in the room — the send transport
// re-offers with `iceRestart: true`, the receive transport asks `transport.recv.restart` and
// answers; DTLS and SRTP survive. When every lost connection receives again it emits
// `media.reconnected` ({transport, outage_ms, ice_restarts}). A restart that fails (signaling
// down too) is tried again every RETRY_MS while the path stays lost.

export const POLL_MS = 250;
export const LOST_AFTER_MS = 1500;
export const RETRY_MS = 5000;

/** @typedef {"send" | "recv"} Kind */
/** @typedef {{pc: RTCPeerConnection | null, restartIce: () => Promise<void>}} Restartable */

class Watched {
  constructor() {
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    this.count = -1;
    this.heardAt = 0;
    this.lost = false;
    this.lostSince = 0;
    this.restarted = false;
    this.nextRestart = 0;
  }
}

/** Packets received by a peer connection's transport, or null when it is not connected. @param {RTCPeerConnection} pc */
async function received(pc) {
  if (pc.connectionState === "closed") return null;
  const report = await pc.getStats();
  /** @type {number | null} */
  let count = null;
  report.forEach((/** @type {Record<string, any>} */ s) => {
    if (s.type !== "transport" || s.dtlsState !== "connected") return;
    count = (count ?? 0) + (s.packetsReceived ?? s.bytesReceived ?? 0);
  });
  return count;
}

/** Watches the send and receive transports of a Client and restarts ICE on a silent one. */
export class PathWatch {
  /**
   * @param {Record<Kind, Restartable>} transports
   * @param {(name: string, data: unknown) => void} emit
   */
  constructor(transports, emit) {
    this._transports = transports;
    this._emit = emit;
    this.lostAfterMs = LOST_AFTER_MS;
    /** Completed ICE restarts. */
    this.iceRestarts = 0;
    /** Some connection has lost its path and has not received since. */
    this.reconnecting = false;
    /** @type {Record<Kind, Watched>} */
    this._watched = { send: new Watched(), recv: new Watched() };
    /** @type {Set<Kind>} transports lost since `media.reconnecting` */
    this._episode = new Set();
    this._outage = 0;
    /** @type {ReturnType<typeof setInterval> | null} */
    this._timer = null;
    this._busy = false;
  }

  /** Start watching (idempotent). */
  start() {
    if (this._timer !== null) return;
    this._timer = setInterval(() => {
      if (this._busy) return;
      this._busy = true;
      this.poll(performance.now()).catch(() => {}).finally(() => { this._busy = false; });
    }, POLL_MS);
  }

  /** Stop watching. */
  stop() {
    if (this._timer !== null) clearInterval(this._timer);
    this._timer = null;
    this._watched = { send: new Watched(), recv: new Watched() };
    this._episode.clear();
    this.reconnecting = false;
  }

  /** One look at both connections. @param {number} now ms */
  async poll(now) {
    /** @type {Kind[]} */
    const newlyLost = [];
    /** @type {Kind[]} */
    const back = [];
    for (const kind of /** @type {Kind[]} */ (["send", "recv"])) {
      const pc = this._transports[kind].pc;
      let w = this._watched[kind];
      if (pc !== w.pc) {
        w = this._watched[kind] = new Watched(); // a new (or no) connection: start over
        w.pc = pc;
      }
      if (!pc) continue;
      const count = await received(pc).catch(() => null);
      if (count === null) continue;
      if (count !== w.count) {
        if (w.lost) {
          back.push(kind);
          this._outage = Math.max(this._outage, now - w.lostSince);
          w.lost = false;
        }
        w.count = count;
        w.heardAt = now;
      } else if (!w.lost && w.count >= 0 && now - w.heardAt > this.lostAfterMs) {
        Object.assign(w, { lost: true, lostSince: w.heardAt, restarted: false, nextRestart: 0 });
        newlyLost.push(kind);
      }
      if (w.lost && !w.restarted && now >= w.nextRestart) {
        w.nextRestart = now + RETRY_MS;
        this._restart(kind, w);
      }
    }
    for (const k of newlyLost) this._episode.add(k);
    const lost = Object.values(this._watched).some((w) => w.lost);
    if (newlyLost.length && !this.reconnecting) {
      this.reconnecting = true;
      this._emit("media.reconnecting", { transport: newlyLost.length === 2 ? "both" : newlyLost[0] });
    }
    if (back.length && !lost && this.reconnecting) {
      this.reconnecting = false;
      const transport = this._episode.size === 2 ? "both" : [...this._episode][0];
      const outage = this._outage;
      this._episode.clear();
      this._outage = 0;
      this._emit("media.reconnected", { transport, outage_ms: Math.round(outage), ice_restarts: this.iceRestarts });
    }
  }

  /** @param {Kind} kind @param {Watched} w */
  _restart(kind, w) {
    this._transports[kind].restartIce().then(() => {
      if (w.pc === this._transports[kind].pc) w.restarted = true;
      this.iceRestarts += 1;
    }, () => {
      // signaling down too, or the transport is being rebuilt: retried after RETRY_MS
    });
  }
}
