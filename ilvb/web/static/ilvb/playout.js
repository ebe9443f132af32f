// Adaptive playout delay for the receive transport: RTCRtpReceiver.jitterBufferTarget set from
// what getStats measures (docs/benchmarks.md "Impaired network" has the figures behind it).
//
// Under loss, NACK/RTX repairs arrive one or more round trips late and frames come in bursts;
// Chromium's own jitter buffer only sizes itself for arrival jitter, so repaired frames miss
// their slot and are dropped or shown in a rush. A minimum playout delay gives repairs time.
//
// The rule, checked every PERIOD_MS over all inbound RTP streams of the connection:
// - the path is *impaired* in an interval when packets were lost (lost ÷ expected ≥ 2 %),
//   retransmissions arrived (≥ 2 % of packets) or NACKs were sent (≥ 2 per second);
// - impaired: raise the target by STEP_UP_MS, up to CAP_MS (300 ms keeps glass-to-glass under
//   about 400 ms on a short path);
// - lower it only after CLEAN_HOLD intervals in a row without impairment (hysteresis), then
//   by STEP_DOWN_MS per clean interval; at 0 the browser's own default applies again (null).

export const PERIOD_MS = 1000;
export const CAP_MS = 300;
export const STEP_UP_MS = 100;
export const STEP_DOWN_MS = 50;
export const CLEAN_HOLD = 10;
const LOSS_FRACTION = 0.02;
const RTX_FRACTION = 0.02;
const NACKS_PER_S = 2;

/** @typedef {{lost: number, received: number, nacks: number, rtx: number}} Counters */

/**
 * Watches one receiving RTCPeerConnection and sets `jitterBufferTarget` on all its receivers.
 * `targetMs` is the target now (0: the browser's default).
 */
export class PlayoutController {
  /** @param {RTCPeerConnection} pc */
  constructor(pc) {
    this.pc = pc;
    this.targetMs = 0;
    this._clean = 0;
    /** @type {Map<string, Counters>} inbound-rtp id -> counters at the last check */
    this._last = new Map();
    /** @type {ReturnType<typeof setInterval> | null} */
    this._timer = setInterval(() => { this.check().catch(() => {}); }, PERIOD_MS);
  }

  /** One check: read the stats, update the target, apply it to every receiver. */
  async check() {
    const report = await this.pc.getStats();
    let lost = 0, received = 0, nacks = 0, rtx = 0;
    /** @type {Map<string, Counters>} */
    const now = new Map();
    report.forEach((/** @type {Record<string, any>} */ s) => {
      if (s.type !== "inbound-rtp") return;
      const c = {
        lost: Math.max(0, s.packetsLost ?? 0),
        received: s.packetsReceived ?? 0,
        nacks: s.nackCount ?? 0,
        rtx: s.retransmittedPacketsReceived ?? 0,
      };
      now.set(s.id, c);
      const p = this._last.get(s.id);
      if (!p) return;
      lost += Math.max(0, c.lost - p.lost);
      received += Math.max(0, c.received - p.received);
      nacks += Math.max(0, c.nacks - p.nacks);
      rtx += Math.max(0, c.rtx - p.rtx);
    });
    this._last = now;
    const expected = lost + received;
    const impaired = expected > 0 && (
      lost / expected >= LOSS_FRACTION
      || rtx / expected >= RTX_FRACTION
      || nacks >= NACKS_PER_S * PERIOD_MS / 1000
    );
    this.update(impaired);
  }

  /** Apply one interval's verdict (exposed for tests). @param {boolean} impaired */
  update(impaired) {
    let t = this.targetMs;
    if (impaired) {
      this._clean = 0;
      t = Math.min(CAP_MS, t + STEP_UP_MS);
    } else if (++this._clean >= CLEAN_HOLD) {
      t = Math.max(0, t - STEP_DOWN_MS);
    }
    if (t === this.targetMs) return;
    this.targetMs = t;
    this.apply();
  }

  /** Set the current target on every receiver (also new ones after renegotiation). */
  apply() {
    for (const r of this.pc.getReceivers()) {
      try {
        /** @type {any} */ (r).jitterBufferTarget = this.targetMs > 0 ? this.targetMs : null;
      } catch {
        // A browser without jitterBufferTarget: nothing to adapt.
      }
    }
  }

  /** Stop watching. */
  close() {
    if (this._timer !== null) clearInterval(this._timer);
    this._timer = null;
  }
}
