// The receive transport (docs/protocol.md "Media negotiation"; ilvb.client.media and
// ilvb.client.remote in the Python SDK).

import { gathered, newPeerConnection } from "./peer.js";
import { PlayoutController } from "./playout.js";
import { RemoteVideo } from "./remote.js";

/** @typedef {import("../ilvb.js").Source} Source */
/** @typedef {import("../ilvb.js").SlotEvent} SlotEvent */
/** @typedef {{userId: string | null, source: Source | null, kind: string}} Slot */
/** @typedef {(type: string, data?: Record<string, unknown>) => Promise<any>} Request */

/**
 * The RTCPeerConnection the server offers on, with fixed slots (a0…, v0…). `slot` events say
 * which member's source each slot carries now; each video slot is a RemoteVideo, each audio
 * slot is played on the speaker. Emits `video.added` / `video.removed` ({userId, source,
 * video}) when a video slot changes member, and `audio.slot` ({mid, userId}).
 */
export class ReceiveTransport {
  /**
   * @param {Request} request sends a signaling request
   * @param {(name: string, data: unknown) => void} emit emits a client event
   * @param {(track: MediaStreamTrack) => () => void} play plays a received audio track; returns its stopper
   */
  constructor(request, emit, play) {
    this._request = request;
    this._emit = emit;
    this._play = play;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {Map<string, Slot>} mid -> who the slot carries */
    this.slots = new Map();
    /** @type {Map<string, RemoteVideo>} mid -> video */
    this._videos = new Map();
    /** @type {Map<string, () => void>} mid -> stops playing that audio slot */
    this._audioStops = new Map();
    /** @type {PlayoutController | null} adapts the playout delay to the path (playout.js) */
    this.playout = null;
  }

  /** Negotiate the transport (server offers, I answer). Idempotent. */
  async open() {
    if (this.pc) return;
    const pc = newPeerConnection();
    this.pc = pc;
    pc.ontrack = (ev) => this._onTrack(ev);
    try {
      const { sdp } = await this._request("transport.recv.open", {});
      await pc.setRemoteDescription({ type: "offer", sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await gathered(pc);
      const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
      await this._request("transport.recv.answer", { sdp: local.sdp });
    } catch (e) {
      pc.close();
      this.pc = null;
      throw e;
    }
    this.playout = new PlayoutController(pc);
    // Tracks may have arrived before the slot events: bind those that are already known.
    for (const [mid, slot] of this.slots) this._bindSlot(mid, slot);
  }

  /**
   * ICE restart (the path was lost): the server's offer with new ICE credentials for the same
   * transport (`transport.recv.restart`), answered with new ones of mine.
   */
  async restartIce() {
    const pc = this.pc;
    if (!pc) return;
    const { sdp } = await this._request("transport.recv.restart", {});
    if (pc !== this.pc) return; // rebuilt meanwhile
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
    await this._request("transport.recv.answer", { sdp: local.sdp });
  }

  /** @param {RTCTrackEvent} ev */
  _onTrack(ev) {
    const mid = /** @type {string} */ (ev.transceiver.mid);
    if (ev.track.kind === "video") {
      const video = new RemoteVideo(mid, ev.track);
      this._videos.set(mid, video);
    } else {
      this._audioStops.set(mid, this._play(ev.track));
    }
    this.playout?.apply();
    const slot = this.slots.get(mid);
    if (slot) this._bindSlot(mid, slot);
  }

  /** A `slot` event: the server put another member (or nobody) into a slot. @param {SlotEvent} data */
  onSlot(data) {
    const slot = { userId: data.user_id ?? null, source: data.source ?? null, kind: data.kind };
    this.slots.set(data.mid, slot);
    this._bindSlot(data.mid, slot);
  }

  /** @param {string} mid @param {Slot} slot */
  _bindSlot(mid, slot) {
    if (slot.kind === "audio") {
      this._emit("audio.slot", { mid, userId: slot.userId });
      return;
    }
    const video = this._videos.get(mid);
    if (!video) return;
    if (video.userId === slot.userId && video.source === slot.source) return;
    if (video.userId) this._emit("video.removed", { userId: video.userId, source: video.source, video });
    video.userId = slot.userId;
    video.source = /** @type {"camera" | "screen" | null} */ (slot.source);
    if (slot.userId) this._emit("video.added", { userId: slot.userId, source: slot.source, video });
  }

  /**
   * The RemoteVideo currently showing a member's source, or null.
   * @param {string} userId @param {"camera"|"screen"} source
   */
  video(userId, source) {
    for (const v of this._videos.values()) if (v.userId === userId && v.source === source) return v;
    return null;
  }

  /**
   * The received audio of one member before mixing (the slot's track), or null when none of
   * my audio slots carries that member now. @param {string} userId
   * @returns {{mid: string, track: MediaStreamTrack} | null}
   */
  audio(userId) {
    for (const [mid, slot] of this.slots) {
      if (slot.kind === "audio" && slot.userId === userId) {
        const tr = this.pc?.getTransceivers().find((t) => t.mid === mid);
        if (tr) return { mid, track: tr.receiver.track };
      }
    }
    return null;
  }

  /** Every RemoteVideo slot (bound or not). */
  videos() {
    return [...this._videos.values()];
  }

  /**
   * The server lost this transport (`transport.closed`): drop every slot (emitting
   * `video.removed` for the bound ones) and negotiate a new transport.
   */
  async rebuild() {
    for (const stop of this._audioStops.values()) stop();
    this._audioStops.clear();
    for (const v of this._videos.values()) {
      if (v.userId) this._emit("video.removed", { userId: v.userId, source: v.source, video: v });
      v.close();
    }
    this._videos.clear();
    this.slots.clear();
    this.playout?.close();
    this.playout = null;
    this.pc?.close();
    this.pc = null;
    await this.open();
  }

  /** Stop playing, drop every slot, close the connection. */
  close() {
    for (const stop of this._audioStops.values()) stop();
    this._audioStops.clear();
    for (const v of this._videos.values()) v.close();
    this._videos.clear();
    this.slots.clear();
    this.playout?.close();
    this.playout = null;
    this.pc?.close();
    this.pc = null;
  }
}
