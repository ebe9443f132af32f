// The send transport (docs/protocol.md "Media negotiation"; ilvb.client.media in the Python SDK).

import { IlvbError } from "./errors.js";
import { CAMERA_DEFAULTS } from "./devices.js";
import { gathered, newPeerConnection } from "./peer.js";
import { applyScreenMode } from "./screen.js";
import { stopTrack } from "./tracks.js";

/** @typedef {import("../ilvb.js").Source} Source */
/** @typedef {import("../ilvb.js").MemberState} MemberState */
/** @typedef {import("../ilvb.js").ScreenMode} ScreenMode */
/** @typedef {{codec?: string, simulcast?: boolean}} SendOptions */

/** Simulcast layers, lowest first (the SFU takes them in this order): rid, size divisor, and
 * the share of the profile's video bitrate each may use. */
export const SIMULCAST_LAYERS = [
  { rid: "q", scale: 4, share: 0.15 },
  { rid: "h", scale: 2, share: 0.35 },
  { rid: "f", scale: 1, share: 1.0 },
];
/** @typedef {(type: string, data?: Record<string, unknown>) => Promise<any>} Request */
/**
 * Opus settings the SFU's answer carries to this browser's encoder (RFC 7587 fmtp, a=ptime).
 * @typedef {{maxaveragebitrate: number, stereo: 0 | 1, maxplaybackrate: number, ptime: number,
 *   useinbandfec: 0 | 1}} OpusParams
 */

/**
 * `sdp` (the SFU's answer) with the Opus fmtp of its audio m-sections set to `opus` and their
 * `a=ptime`: what the answer says is what this browser's Opus encoder sends (bitrate, stereo,
 * packet length, in-band FEC). @param {string} sdp @param {OpusParams} opus @returns {string}
 */
export function withOpusParams(sdp, opus) {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const sections = sdp.split(/\r?\n(?=m=)/);
  const out = sections.map((section) => {
    if (!section.startsWith("m=audio")) return section;
    const pt = section.match(/a=rtpmap:(\d+) opus\/48000/i)?.[1];
    if (!pt) return section;
    let lines = section.split(/\r?\n/).filter((l) => l !== "" && !l.startsWith("a=ptime:"));
    const fmtpAt = lines.findIndex((l) => l.startsWith(`a=fmtp:${pt} `));
    /** @type {Map<string, string>} */
    const params = new Map();
    if (fmtpAt >= 0) {
      for (const kv of lines[fmtpAt].slice(`a=fmtp:${pt} `.length).split(";")) {
        const [k, v] = kv.trim().split("=");
        if (k) params.set(k, v ?? "");
      }
    }
    params.set("maxaveragebitrate", String(opus.maxaveragebitrate));
    params.set("stereo", String(opus.stereo));
    params.set("sprop-stereo", String(opus.stereo));
    params.set("maxplaybackrate", String(opus.maxplaybackrate));
    params.set("useinbandfec", String(opus.useinbandfec));
    const fmtp = `a=fmtp:${pt} ${[...params].map(([k, v]) => `${k}=${v}`).join(";")}`;
    if (fmtpAt >= 0) lines[fmtpAt] = fmtp;
    else lines.splice(lines.findIndex((l) => l.startsWith(`a=rtpmap:${pt} `)) + 1, 0, fmtp);
    lines = [...lines, `a=ptime:${opus.ptime}`];
    return lines.join(eol);
  }).join(eol);
  return sdp.endsWith(eol) && !out.endsWith(eol) ? out + eol : out;
}

/** The MemberState permission / sending key of each source. */
const SOURCE_KEYS = /** @type {const} */ ({ microphone: "audio", camera: "video", screen: "screen" });

/**
 * Codecs of `kind` whose mimeType is `name` ("VP8", "H264", "opus"), for setCodecPreferences.
 * @param {"audio" | "video"} kind @param {string} name
 */
function codecsFor(kind, name) {
  const caps = RTCRtpSender.getCapabilities(kind);
  const wanted = (caps?.codecs || []).filter((c) => c.mimeType.toLowerCase() === `${kind}/${name}`.toLowerCase());
  if (!wanted.length) throw new IlvbError("invalid_argument", `this browser cannot send ${name}`);
  // H.264: prefer packetization-mode=1 constrained baseline (what every SFU and aiortc speak).
  wanted.sort((a, b) => score(b) - score(a));
  return wanted;

  /** @param {RTCRtpCodec} c */
  function score(c) {
    const f = c.sdpFmtpLine || "";
    return (f.includes("packetization-mode=1") ? 2 : 0) + (f.includes("42e01f") ? 1 : 0);
  }
}

/**
 * The RTCPeerConnection the client offers on: one `sendonly` transceiver per published source,
 * announced as `transport.send.offer {sdp, sources: {mid: source}}`. Publishing another source
 * renegotiates the same connection; publishing a source again reuses its m-line. Negotiations
 * run one at a time.
 */
export class SendTransport {
  /**
   * @param {Request} request sends a signaling request
   * @param {(name: string, data: unknown) => void} emit emits a client event
   * @param {() => MediaStreamTrack | null} cameraTrack the device manager's camera track (not stopped on close)
   */
  constructor(request, emit, cameraTrack) {
    this._request = request;
    this._emit = emit;
    this._cameraTrack = cameraTrack;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {Map<Source, RTCRtpTransceiver>} source -> send transceiver */
    this._senders = new Map();
    /** @type {{stop: () => void} | null} the running screen capture */
    this._screen = null;
    /** @type {Promise<unknown>} */
    this._negotiation = Promise.resolve();
    /** @type {Map<Source, MediaStreamTrack>} tracks the server stopped (sent again if the transport is rebuilt) */
    this._stopped = new Map();
    /** How each source was published (codec, screen mode): reused when the transport is rebuilt.
     * @type {Map<Source, {opts: SendOptions, screenMode: ScreenMode | null}>} */
    this._publishedWith = new Map();
    /** The Opus settings put into each answer (the quality profile's), or null. @type {OpusParams | null} */
    this.opus = null;
    /** The Opus settings of the answer in effect. @type {OpusParams | null} */
    this.negotiatedOpus = null;
  }

  /**
   * Use these Opus settings: renegotiate the send transport when the microphone is sent and they
   * differ from the answer in effect. @param {OpusParams} opus @returns {Promise<void>}
   */
  setOpus(opus) {
    this.opus = opus;
    return this._serial(async () => {
      const same = JSON.stringify(this.negotiatedOpus) === JSON.stringify(this.opus);
      if (this.pc && this._senders.has("microphone") && !same) await this._negotiate(this.pc);
    });
  }

  /** The RTCRtpSender of a source's m-line, or null before it is published. @param {Source} source */
  sender(source) {
    return this._senders.get(source)?.sender || null;
  }

  /** The mode of the screen being shared, or null. @returns {ScreenMode | null} */
  screenMode() {
    return this._screen && this._senders.get("screen")?.sender.track
      ? this._publishedWith.get("screen")?.screenMode || null : null;
  }

  /** The track currently sent for a source, or null. @param {Source} source */
  track(source) {
    return this._senders.get(source)?.sender.track || null;
  }

  /** Make `screen` the running screen capture (stopping any other). @param {{stop: () => void}} screen */
  setScreen(screen) {
    this._screen?.stop();
    this._screen = screen;
  }

  _stopScreen() {
    this._screen?.stop();
    this._screen = null;
  }

  /** Stop sending a source (its m-line stays, silent). @param {Source} source */
  async stop(source) {
    this._stopped.delete(source);
    const t = this._senders.get(source);
    if (t?.sender.track) await t.sender.replaceTrack(null);
    if (source === "screen") this._stopScreen();
  }

  _ensurePc() {
    if (!this.pc) {
      this.pc = newPeerConnection();
    }
    return this.pc;
  }

  /**
   * Run `fn` after the negotiations already queued. @template T
   * @param {() => Promise<T>} fn @returns {Promise<T>}
   */
  _serial(fn) {
    const run = this._negotiation.then(fn, fn);
    this._negotiation = run.catch(() => {});
    return run;
  }

  /**
   * Send `track` for `source`: a new transceiver (and a negotiation), or the source's m-line again.
   * @param {Source} source @param {MediaStreamTrack} track @param {SendOptions} opts
   * @param {ScreenMode | null | undefined} screenMode
   */
  async add(source, track, opts, screenMode) {
    this._publishedWith.set(source, { opts, screenMode: screenMode || null });
    return this._serial(async () => {
      const pc = this._ensurePc();
      const existing = this._senders.get(source);
      if (existing) {
        // Re-publish on the same m-line: no renegotiation needed; a screen mode may differ.
        if (screenMode) await applyScreenMode(existing.sender, screenMode);
        await existing.sender.replaceTrack(track);
        return;
      }
      /** @type {RTCRtpTransceiverInit} */
      const init = { direction: "sendonly", streams: [] };
      if (screenMode) {
        init.sendEncodings = [{ maxBitrate: screenMode.maxBitrate, maxFramerate: screenMode.frameRate,
          scaleResolutionDownBy: 1 }];
      } else if (track.kind === "video" && opts.simulcast) {
        init.sendEncodings = SIMULCAST_LAYERS.map((l) => ({ rid: l.rid, scaleResolutionDownBy: l.scale,
          maxBitrate: Math.round(800_000 * l.share), maxFramerate: CAMERA_DEFAULTS.frameRate }));
      } else if (track.kind === "video") {
        init.sendEncodings = [{ maxBitrate: 800_000, maxFramerate: CAMERA_DEFAULTS.frameRate }];
      }
      const tr = pc.addTransceiver(track, init);
      if (track.kind === "video" && opts.codec) {
        tr.setCodecPreferences(codecsFor("video", opts.codec));
      }
      if (screenMode) await applyScreenMode(tr.sender, screenMode);
      this._senders.set(source, tr);
      try {
        await this._negotiate(pc);
      } catch (e) {
        pc.removeTrack(tr.sender);
        tr.stop?.();
        this._senders.delete(source);
        throw e;
      }
    });
  }

  /**
   * ICE restart (the path was lost): a new offer with new ICE credentials, same certificate;
   * the server answers with its new ones and keeps the transport and its producers.
   */
  async restartIce() {
    return this._serial(async () => {
      if (this.pc) await this._negotiate(this.pc, { iceRestart: true });
    });
  }

  /** @param {RTCPeerConnection} pc @param {RTCOfferOptions} [options] */
  async _negotiate(pc, options) {
    const offer = await pc.createOffer(options);
    await pc.setLocalDescription(offer);
    await gathered(pc);
    /** @type {Record<string, string>} */
    const sources = {};
    for (const [source, tr] of this._senders) if (tr.mid != null) sources[tr.mid] = source;
    const sdp = /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
    const answer = await this._request("transport.send.offer", { sdp, sources });
    const opus = this.opus;
    await pc.setRemoteDescription({ type: "answer", sdp: opus ? withOpusParams(answer.sdp, opus) : answer.sdp });
    this.negotiatedOpus = opus;
  }

  /**
   * The server stopped some of my sources (permission revoked): stop sending their tracks and
   * emit `unpublished`. @param {MemberState} me
   */
  dropRevoked(me) {
    for (const [source, tr] of this._senders) {
      if (!tr.sender.track || me.sending?.[SOURCE_KEYS[source]] !== false) continue;
      this._stopped.set(source, tr.sender.track); // sent again if a transport.closed follows
      tr.sender.replaceTrack(null).catch(() => {});
      if (source === "screen") this._stopScreen();
      this._emit("unpublished", { source, reason: "server" });
    }
  }

  /**
   * The device manager changed a source's track: send the new one if the source is sent.
   * @param {Source} source @param {MediaStreamTrack | null} track
   */
  async replaceTrack(source, track) {
    const tr = this._senders.get(source);
    if (tr && tr.sender.track && tr.sender.track !== track) await tr.sender.replaceTrack(track);
  }

  /**
   * The server lost this transport (`transport.closed`): build a new one and ask again for the
   * sources I was sending that are still live and allowed (a failure is emitted as `error`,
   * e.g. the sender cap was taken meanwhile).
   * @param {MemberState | null} me
   */
  async rebuild(me) {
    /** @type {Map<Source, MediaStreamTrack>} */
    const tracks = new Map();
    for (const [source, tr] of this._senders) {
      const track = tr.sender.track || this._stopped.get(source);
      const allowed = me?.permissions?.[SOURCE_KEYS[source]] !== false; // not a revoke
      if (track && track.readyState === "live" && allowed) tracks.set(source, track);
    }
    await this._serial(async () => {
      this._stopped.clear();
      this._senders.clear();
      this.pc?.close();
      this.pc = null;
    });
    for (const [source, track] of tracks) {
      try {
        await this._request("media.publish", { source });
        const how = this._publishedWith.get(source) || { opts: {}, screenMode: null };
        await this.add(source, track, how.opts, how.screenMode);
      } catch (e) {
        this._emit("error", e);
      }
    }
  }

  /** Close the connection; stop the tracks this transport made (screen, external), not the camera. */
  close() {
    this._stopScreen();
    for (const tr of this._senders.values()) {
      const track = tr.sender.track;
      if (track?.kind === "video" && track !== this._cameraTrack()) stopTrack(track);
    }
    this._senders.clear();
    this.pc?.close();
    this.pc = null;
  }
}
