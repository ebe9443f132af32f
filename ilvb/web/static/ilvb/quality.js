// The member's quality profile, pushed by the server (room.enter's `quality`, the event
// `quality.changed`): applied to what is sent without rejoining, and reported back with
// `quality.report` (docs/protocol.md; the profile itself is described in docs/console.md).

import { applyScreenMode, screenModeName } from "./screen.js";
import { SIMULCAST_LAYERS } from "./send.js";

/** @typedef {import("../ilvb.js").Source} Source */
/** @typedef {import("../ilvb.js").QualityUpdate} QualityUpdate */
/** @typedef {import("../ilvb.js").QualityProfile} QualityProfile */
/** @typedef {import("../ilvb.js").QualityReport} QualityReport */
/** @typedef {(type: string, data?: Record<string, unknown>) => Promise<any>} Request */
/** @typedef {{echoCancellation?: boolean, noiseSuppression?: boolean, autoGainControl?: boolean}} AudioFlags */
/** @typedef {import("./send.js").OpusParams} OpusParams */
/** @typedef {import("../ilvb.js").ScreenMode} ScreenMode */
/**
 * What the applier needs from the client.
 * @typedef {{
 *   sender: (source: Source) => RTCRtpSender | null,
 *   micDeviceTrack: () => MediaStreamTrack | null,
 *   reopenMic: (flags: AudioFlags) => Promise<unknown>,
 *   setOpus: (opus: OpusParams) => Promise<void>,
 *   screenMode: () => ScreenMode | null,
 * }} QualityHooks
 */

/**
 * Profile fields a browser cannot set: the encoder's QP range and keyframe interval are not
 * exposed by WebRTC, nor is video FEC per sender; sharpening would need a pre-encode canvas
 * step (not done); the receive cap is the server's to enforce. (The Opus sample rate, channels,
 * packet length and bitrate go to the encoder through the SDP answer's fmtp and a=ptime.)
 */
export const WEB_UNSUPPORTED = Object.freeze([
  "video.min_qp", "video.max_qp", "video.gop", "video.sharpen", "video.sharpen_strength",
  "video.fec", "network.max_recv_kbps",
]);

/**
 * The Opus settings of a profile, as the SDP answer gives them to the encoder (RFC 7587):
 * bitrate (within the send cap), stereo, the largest sample rate worth coding, packet length,
 * and in-band FEC (always on: it costs little and recovers single losses).
 * @param {QualityProfile} profile @returns {OpusParams}
 */
export function opusParams(profile) {
  const a = profile.audio;
  return {
    maxaveragebitrate: Math.min(a.bitrate_kbps, profile.network.max_send_kbps) * 1000,
    stereo: a.channels === 2 ? 1 : 0,
    maxplaybackrate: a.sample_rate,
    ptime: a.packet_ms,
    useinbandfec: 1,
  };
}

/**
 * Applies the current profile to the published camera and microphone (and again whenever a
 * source is published), one application at a time, then sends `quality.report`.
 */
export class QualityApplier {
  /** @param {Request} request @param {QualityHooks} hooks @param {(name: string, data: unknown) => void} emit */
  constructor(request, hooks, emit) {
    this._request = request;
    this._hooks = hooks;
    this._emit = emit;
    /** The profile in effect (from the server), or null. @type {QualityUpdate | null} */
    this.current = null;
    /** The last report sent. @type {QualityReport | null} */
    this.lastReport = null;
    /** @type {Promise<unknown>} */
    this._running = Promise.resolve();
  }

  /**
   * A profile from the server: apply it now (in the background; a failure is emitted as
   * `error`). Resolves with the report sent. @param {QualityUpdate} update
   * @returns {Promise<QualityReport | null>}
   */
  set(update) {
    this.current = update;
    return this.reapply();
  }

  /** Apply the current profile again (after a publish). @returns {Promise<QualityReport | null>} */
  reapply() {
    const run = this._running.then(() => this._apply());
    this._running = run.catch(() => {});
    return run.catch((e) => { this._emit("error", e); return null; });
  }

  /** @returns {Promise<QualityReport | null>} */
  async _apply() {
    const update = this.current;
    if (!update) return null;
    const { profile } = update;
    /** @type {Record<string, boolean | number | string | null>} */
    const applied = {};
    /** @type {string[]} */
    const unsupported = [...WEB_UNSUPPORTED];
    const camera = this._hooks.sender("camera");
    if (camera?.track) await applyVideo(camera, profile, applied, unsupported);
    const mic = this._hooks.sender("microphone");
    if (mic) await this._applyAudio(mic, profile, applied);
    // Opus settings: in every later answer; a renegotiation now when the microphone is sent.
    const opus = opusParams(profile);
    await this._hooks.setOpus(opus);
    if (mic) {
      applied["audio.bitrate_kbps"] = opus.maxaveragebitrate / 1000;
      applied["audio.channels"] = opus.stereo ? 2 : 1;
      applied["audio.sample_rate"] = opus.maxplaybackrate;
      applied["audio.packet_ms"] = opus.ptime;
    }
    const screen = this._hooks.sender("screen");
    const running = this._hooks.screenMode();
    if (screen?.track && running) await applyScreen(screen, running, profile, applied);
    /** @type {QualityReport} */
    const report = { version: update.version, applied, unsupported };
    await this._request("quality.report", { ...report });
    this.lastReport = report;
    this._emit("quality.applied", report);
    return report;
  }

  /**
   * Processing flags on the microphone device (re-opened when the browser does not change
   * them on the live track) and the Opus bitrate on the sender.
   * @param {RTCRtpSender} sender @param {QualityProfile} profile
   * @param {Record<string, boolean | number | string | null>} applied
   */
  async _applyAudio(sender, profile, applied) {
    const a = profile.audio;
    /** @type {AudioFlags} */
    const flags = { autoGainControl: a.agc, noiseSuppression: a.ns, echoCancellation: a.aec };
    let track = this._hooks.micDeviceTrack();
    if (track && !flagsMatch(track, flags)) {
      await track.applyConstraints(flags).catch(() => {});
      if (!flagsMatch(track, flags)) {
        await this._hooks.reopenMic(flags);
        track = this._hooks.micDeviceTrack();
      }
    }
    if (track) {
      const s = track.getSettings();
      applied["audio.agc"] = s.autoGainControl ?? null;
      applied["audio.ns"] = s.noiseSuppression ?? null;
      applied["audio.aec"] = s.echoCancellation ?? null;
    }
    const kbps = Math.min(a.bitrate_kbps, profile.network.max_send_kbps);
    const params = sender.getParameters();
    if (params.encodings?.length) {
      params.encodings[0].maxBitrate = kbps * 1000;
      await sender.setParameters(params);
      applied["audio.bitrate_kbps"] = kbps;
    }
    applied["audio.codec"] = "opus";
  }
}

/**
 * The running screen share keeps its capture size (a new size applies at the next share); its
 * mode's bitrate and frame rate from the profile go on the sender now.
 * @param {RTCRtpSender} sender @param {ScreenMode} running @param {QualityProfile} profile
 * @param {Record<string, boolean | number | string | null>} applied
 */
async function applyScreen(sender, running, profile, applied) {
  const name = screenModeName(running);
  const want = profile.screen[name];
  const kbps = Math.min(want.bitrate_kbps, profile.network.max_send_kbps);
  await applyScreenMode(sender, { ...running, frameRate: want.fps, maxBitrate: kbps * 1000 });
  applied[`screen.${name}.width`] = running.width;
  applied[`screen.${name}.height`] = running.height;
  applied[`screen.${name}.fps`] = want.fps;
  applied[`screen.${name}.bitrate_kbps`] = kbps;
}

/**
 * The profile's video codec when this browser can send it (publish then prefers it), else null.
 * @param {QualityUpdate | null} update @returns {"VP8" | "H264" | null}
 */
export function profileCodec(update) {
  const want = update?.profile.video.codec;
  if (want !== "VP8" && want !== "H264") return null;
  const caps = RTCRtpSender.getCapabilities("video")?.codecs || [];
  return caps.some((c) => c.mimeType.toLowerCase() === `video/${want.toLowerCase()}`) ? want : null;
}

/** @param {MediaStreamTrack} track @param {AudioFlags} flags */
function flagsMatch(track, flags) {
  const s = track.getSettings();
  return s.autoGainControl === flags.autoGainControl && s.noiseSuppression === flags.noiseSuppression
    && s.echoCancellation === flags.echoCancellation;
}

/**
 * Capture size and frame rate through applyConstraints; what the capture cannot give is made up
 * by scaleResolutionDownBy; bitrate, frame rate and degradation preference on the sender.
 * @param {RTCRtpSender} sender @param {QualityProfile} profile
 * @param {Record<string, boolean | number | string | null>} applied @param {string[]} unsupported
 */
async function applyVideo(sender, profile, applied, unsupported) {
  const v = profile.video;
  const track = /** @type {MediaStreamTrack} */ (sender.track);
  // Simulcast keeps the capture's size: Chromium sends three layers only from 960x540 of input
  // up (two from 480x270), so the layers, not the capture, are scaled to the profile's size.
  const simulcast = (sender.getParameters().encodings?.length || 0) > 1;
  const size = simulcast ? {} : { width: { ideal: v.width }, height: { ideal: v.height } };
  await track.applyConstraints({ ...size, frameRate: { ideal: v.fps } }).catch(() => {});
  const s = track.getSettings();
  const width = s.width || v.width;
  const height = s.height || v.height;
  const scale = Math.max(1, width / v.width, height / v.height);
  const kbps = Math.min(v.bitrate_kbps, profile.network.max_send_kbps);
  const params = sender.getParameters();
  if (!params.encodings?.length) return;
  if (params.encodings.length > 1) {
    // simulcast: the top layer gets the profile, the lower ones their share of it
    params.encodings.forEach((enc, i) => {
      const layer = SIMULCAST_LAYERS[i] || SIMULCAST_LAYERS[SIMULCAST_LAYERS.length - 1];
      enc.maxBitrate = Math.round(kbps * 1000 * layer.share);
      enc.maxFramerate = v.fps;
      enc.scaleResolutionDownBy = scale * layer.scale;
    });
  } else {
    const enc = params.encodings[0];
    enc.maxBitrate = kbps * 1000;
    enc.maxFramerate = v.fps;
    enc.scaleResolutionDownBy = scale;
  }
  /** @type {RTCRtpSendParameters & {degradationPreference?: string}} */
  const withPref = params;
  withPref.degradationPreference = profile.network.degradation;
  try {
    await sender.setParameters(withPref);
    applied["network.degradation"] = profile.network.degradation;
  } catch {
    delete withPref.degradationPreference;
    await sender.setParameters(params);
    unsupported.push("network.degradation");
  }
  applied["video.width"] = Math.round(width / scale);
  applied["video.height"] = Math.round(height / scale);
  applied["video.fps"] = Math.min(v.fps, s.frameRate || v.fps);
  applied["video.bitrate_kbps"] = kbps;
  applied["network.max_send_kbps"] = profile.network.max_send_kbps;
  const codec = sender.getParameters().codecs?.[0]?.mimeType?.split("/")[1] || null;
  applied["video.codec"] = codec;
}
