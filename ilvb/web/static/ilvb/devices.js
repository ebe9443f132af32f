// The device manager of the Web SDK: lists microphones, cameras and speakers, opens them, and
// owns what is sent as "microphone" and "camera" and what is played.

import { IlvbError } from "./errors.js";
import { Emitter } from "./events.js";
import { Microphone } from "./microphone.js";
import { Speaker } from "./speaker.js";
import { stopTrack } from "./tracks.js";

/** @typedef {import("../ilvb.js").DeviceInfo} DeviceInfo */
/** @typedef {import("../ilvb.js").DeviceType} DeviceType */
/** @typedef {import("./sources.js").Accompaniment} Accompaniment */
/** @typedef {import("./sources.js").ExternalAudio} ExternalAudio */

/** Camera defaults: 640×480 at 15 fps. */
export const CAMERA_DEFAULTS = Object.freeze({ width: 640, height: 480, frameRate: 15 });

/**
 * The device manager: lists and counts microphones, cameras and speakers, opens and closes
 * them, and runs the microphone through a GainNode (digital volume) and an AnalyserNode (level)
 * before anything is sent (microphone.js). Remote audio is played through elements whose volume
 * is the speaker volume, and measured for the speaker level (speaker.js).
 *
 * Events: `devicechange` ({added, removed, devices}), `track` ({source, track}) when the
 * microphone or camera track that would be published changes.
 */
export class Devices extends Emitter {
  constructor() {
    super();
    /** @type {AudioContext | null} */
    this._ctx = null;
    const context = () => this.audioContext;
    this._mic = new Microphone(context);
    this._speaker = new Speaker(context);
    /** @type {MediaStreamTrack | null} */
    this._cameraTrack = null;
    /** @type {string | null} */
    this._cameraDeviceId = null;
    /** @type {HTMLCanvasElement | null} */
    this._externalVideo = null;
    /** @type {DeviceInfo[]} */
    this._known = [];
    this._onDeviceChange = () => this._deviceChange();
    navigator.mediaDevices?.addEventListener?.("devicechange", this._onDeviceChange);
  }

  /** The shared AudioContext (created on first use). */
  get audioContext() {
    if (!this._ctx) {
      this._ctx = new AudioContext();
    }
    if (this._ctx.state === "suspended") this._ctx.resume().catch(() => {});
    return this._ctx;
  }

  /**
   * All devices, optionally of one type, as {id, name, type, opened}.
   * Types: "microphone", "camera", "speaker".
   * @param {DeviceType} [type] @returns {Promise<DeviceInfo[]>}
   */
  async list(type) {
    /** @type {Record<MediaDeviceKind, DeviceType>} */
    const kinds = { audioinput: "microphone", videoinput: "camera", audiooutput: "speaker" };
    const all = await navigator.mediaDevices.enumerateDevices();
    /** @type {DeviceInfo[]} */
    const out = [];
    for (const d of all) {
      const t = kinds[d.kind];
      if (!t || (type && t !== type)) continue;
      out.push({ id: d.deviceId, name: d.label || `${t} ${out.length + 1}`, type: t,
        groupId: d.groupId, opened: this._isOpen(t, d.deviceId) });
    }
    return out;
  }

  /** @param {DeviceType} type @param {string} id */
  _isOpen(type, id) {
    if (type === "microphone") return this._mic.deviceId === id;
    if (type === "camera") return !!this._cameraTrack && this._cameraDeviceId === id;
    return this._speaker.deviceId === id;
  }

  /** Number of devices of a type. @param {"microphone"|"camera"|"speaker"} type */
  async count(type) {
    return (await this.list(type)).length;
  }

  /** Opened devices (microphone, camera, speaker in use). */
  async opened() {
    return (await this.list()).filter((d) => d.opened);
  }

  /** A device by id, or null. @param {string} id */
  async get(id) {
    return (await this.list()).find((d) => d.id === id) || null;
  }

  // --- microphone ------------------------------------------------------------------------------

  /**
   * Open a microphone (default device when no id); closes external audio (mutually exclusive).
   * Returns the processed track (after the digital volume) that `publish("microphone")` sends.
   * @param {string} [deviceId] @param {{echoCancellation?: boolean, noiseSuppression?: boolean, autoGainControl?: boolean}} [opts]
   */
  async openMicrophone(deviceId, opts = {}) {
    const out = await this._mic.openDevice(deviceId, opts);
    this.emit("track", { source: "microphone", track: out });
    return out;
  }

  /** Close the microphone (the sent track goes silent; it is not stopped). */
  closeMicrophone() {
    this._mic.closeDevice();
  }

  /** The open microphone device's own track (its getSettings() show AGC/NS/AEC), or null. */
  get microphoneDeviceTrack() {
    return this._mic.deviceTrack;
  }

  /** The open microphone's device id, or null. */
  get microphoneDeviceId() {
    return this._mic.deviceId;
  }

  /** True while a microphone or external audio feeds the sent audio. */
  get microphoneOpen() {
    return this._mic.open;
  }

  /**
   * The track published for "microphone": the input mixer's output (microphone or external
   * audio after its volume, plus any accompaniment), or null when nothing feeds it.
   */
  get microphoneTrack() {
    return this._mic.track;
  }

  /** Peak level (0..1) of the latest frame of everything sent (microphone + accompaniment). */
  sentLevel() {
    return this._mic.sentLevel();
  }

  /**
   * Mix an accompaniment (music, system audio) into what is sent, with its own volume and level
   * (the "input mixer"). Replaces any previous accompaniment.
   * @param {HTMLMediaElement | MediaStreamTrack} source
   * @returns {Accompaniment}
   */
  openAccompaniment(source) {
    const acc = this._mic.openAccompaniment(source);
    this.emit("track", { source: "microphone", track: this.microphoneTrack });
    return acc;
  }

  /** Stop mixing the accompaniment. */
  closeAccompaniment() {
    this._mic.closeAccompaniment();
  }

  /** The open accompaniment, or null. */
  get accompaniment() {
    return this._mic.accompaniment;
  }

  /**
   * Open app-fed audio instead of the microphone (closes the microphone).
   * @param {{sampleRate?: number}} [opts] @returns {Promise<ExternalAudio>}
   */
  async openExternalAudio(opts = {}) {
    const external = await this._mic.openExternal(opts);
    this.emit("track", { source: "microphone", track: this.microphoneTrack });
    return external;
  }

  /** Close external audio. */
  closeExternalAudio() {
    this._mic.closeExternal();
  }

  /** Microphone digital volume, 0..2 (1 = unchanged). */
  get microphoneVolume() {
    return this._mic.volume;
  }

  set microphoneVolume(v) {
    this._mic.volume = v;
  }

  /** Peak level (0..1) of the latest frame of what is sent (after the volume). */
  microphoneLevel() {
    return this._mic.level();
  }

  // --- camera / external video -----------------------------------------------------------------

  /**
   * Open a camera (default when no id). Opening a camera closes the other camera and any external
   * video (mutually exclusive). Returns the video track.
   * @param {string} [deviceId] @param {{width?: number, height?: number, frameRate?: number}} [opts]
   */
  async openCamera(deviceId, opts = {}) {
    /** @type {MediaTrackConstraints} */
    const video = {
      width: { ideal: opts.width || CAMERA_DEFAULTS.width },
      height: { ideal: opts.height || CAMERA_DEFAULTS.height },
      frameRate: { ideal: opts.frameRate || CAMERA_DEFAULTS.frameRate },
    };
    if (deviceId) video.deviceId = { exact: deviceId };
    this.closeCamera();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video });
    } catch (e) { throw IlvbError.fromMediaError(e, "camera"); }
    const track = stream.getVideoTracks()[0];
    this._cameraTrack = track;
    this._cameraDeviceId = track.getSettings().deviceId || deviceId || "";
    this.emit("track", { source: "camera", track });
    return track;
  }

  /** Close the camera or external video. */
  closeCamera() {
    stopTrack(this._cameraTrack);
    this._cameraTrack = null;
    this._cameraDeviceId = null;
    if (this._externalVideo) {
      this._externalVideo = null;
    }
  }

  /** The track published for "camera" (camera or external video), or null. */
  get cameraTrack() {
    return this._cameraTrack;
  }

  /**
   * Zoom the open camera (`track.applyConstraints({zoom})`) where the device supports it; a camera
   * without a zoom control fails with `unsupported_feature`. Resolves with the zoom applied.
   * @param {number} zoom @returns {Promise<number>}
   */
  async setZoom(zoom) {
    const track = this._cameraTrack;
    if (!track || this._externalVideo) throw new IlvbError("invalid_state", "no camera is open");
    const caps = /** @type {any} */ (track.getCapabilities?.() || {});
    if (!caps.zoom) {
      throw new IlvbError("unsupported_feature", `camera ${this._cameraDeviceId} has no zoom control`);
    }
    if (!Number.isFinite(zoom) || zoom < caps.zoom.min || zoom > caps.zoom.max) {
      throw new IlvbError("invalid_argument", `zoom must be within ${caps.zoom.min}..${caps.zoom.max}`);
    }
    await track.applyConstraints(/** @type {any} */ ({ advanced: [{ zoom }] }));
    return /** @type {any} */ (track.getSettings()).zoom ?? zoom;
  }

  /** The id of the open camera, or null. */
  get cameraDeviceId() {
    return this._cameraDeviceId;
  }

  /**
   * Use a canvas the app draws into as the camera ("external video capture").
   * Closes the camera. Returns the track.
   * @param {HTMLCanvasElement} canvas @param {number} [frameRate]
   */
  openExternalVideo(canvas, frameRate = 15) {
    if (!canvas || typeof canvas.captureStream !== "function") {
      throw new IlvbError("invalid_argument", "openExternalVideo needs a <canvas>");
    }
    this.closeCamera();
    const track = canvas.captureStream(frameRate).getVideoTracks()[0];
    this._cameraTrack = track;
    this._cameraDeviceId = "external";
    this._externalVideo = canvas;
    this.emit("track", { source: "camera", track });
    return track;
  }

  // --- speaker ---------------------------------------------------------------------------------

  /**
   * Play a received audio track on the speaker (volume and device applied) and measure it.
   * Returns a function that stops playing it.
   * @param {MediaStreamTrack} track
   */
  play(track) {
    return this._speaker.play(track);
  }

  /** Speaker volume, 0..1. */
  get speakerVolume() {
    return this._speaker.volume;
  }

  set speakerVolume(v) {
    this._speaker.volume = v;
  }

  /** Peak level (0..1) of the latest frame of what is played (after the speaker volume). */
  speakerLevel() {
    return this._speaker.level();
  }

  /** Choose the speaker (audio output device) for everything played. @param {string} deviceId */
  async setSpeaker(deviceId) {
    const speakers = await this.list("speaker");
    if (!speakers.some((d) => d.id === deviceId)) {
      throw new IlvbError("device_unavailable", `no speaker with id ${deviceId}`);
    }
    await this._speaker.use(deviceId);
  }

  /**
   * What the speaker plays (every remote member's audio, after the speaker volume) mixed into one
   * MediaStream; per-member streams are `client.remoteAudio(userId).track`.
   * @returns {MediaStream}
   */
  outputStream() {
    return this._speaker.outputStream();
  }

  /** The chosen speaker's id. */
  get speakerDeviceId() {
    return this._speaker.deviceId;
  }

  // --- hot-plug --------------------------------------------------------------------------------

  async _deviceChange() {
    const now = await this.list();
    const before = new Map(this._known.map((d) => [d.type + d.id, d]));
    const after = new Map(now.map((d) => [d.type + d.id, d]));
    const added = now.filter((d) => !before.has(d.type + d.id));
    const removed = this._known.filter((d) => !after.has(d.type + d.id));
    this._known = now;
    this.emit("devicechange", { added, removed, devices: now });
  }

  /** Remember the current list so `devicechange` can tell what was added or removed. */
  async watch() {
    this._known = await this.list();
    return this._known;
  }

  /** Close everything this manager opened. */
  close() {
    this._mic.close();
    this.closeCamera();
    navigator.mediaDevices?.removeEventListener?.("devicechange", this._onDeviceChange);
    this._speaker.close();
    this._ctx?.close().catch(() => {});
    this._ctx = null;
  }
}
