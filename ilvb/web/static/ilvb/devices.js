// The device manager of the Web SDK: microphones, cameras, speakers, the sent-audio chain.

import { IlvbError } from "./errors.js";
import { Emitter } from "./events.js";
import { Accompaniment, ExternalAudio } from "./sources.js";
import { peakOf, stopTrack } from "./tracks.js";

/** @typedef {import("../ilvb.js").DeviceInfo} DeviceInfo */
/** @typedef {import("../ilvb.js").DeviceType} DeviceType */

/**
 * The sent-audio chain: microphone (or external audio) → `gain` (digital volume) → `analyser`
 * (its level), then `mixer` (plus any accompaniment) → `sent` (level of everything sent) and
 * `dest` (the track that is published).
 * @typedef {{gain: GainNode, analyser: AnalyserNode, mixer: GainNode, sent: AnalyserNode,
 *   dest: MediaStreamAudioDestinationNode}} MicChain
 */

/** Camera defaults: 640×480 at 15 fps. */
export const CAMERA_DEFAULTS = Object.freeze({ width: 640, height: 480, frameRate: 15 });

/**
 * The device manager: lists and counts microphones, cameras and speakers, opens and closes
 * them, and runs the microphone through a GainNode (digital volume) and an AnalyserNode (level)
 * before anything is sent. Remote audio is played through elements whose volume is the speaker
 * volume, and measured for the speaker level.
 *
 * Events: `devicechange` ({added, removed, devices}), `track` ({source, track}) when the
 * microphone or camera track that would be published changes.
 */
export class Devices extends Emitter {
  constructor() {
    super();
    /** @type {AudioContext | null} */
    this._ctx = null;
    /** @type {MediaStream | null} */
    this._micStream = null;
    /** @type {string | null} */
    this._micDeviceId = null;
    /** @type {MediaStreamAudioSourceNode | null} */
    this._micSource = null;
    /** @type {ExternalAudio | null} */
    this._external = null;
    /** @type {Promise<void> | null} the external-audio worklet, loaded once */
    this._workletLoaded = null;
    /** @type {Accompaniment | null} */
    this._accompaniment = null;
    /** @type {MicChain | null} */
    this._chain = null;
    this._micVolume = 1;
    /** @type {MediaStreamTrack | null} */
    this._cameraTrack = null;
    /** @type {string | null} */
    this._cameraDeviceId = null;
    /** @type {HTMLCanvasElement | null} */
    this._externalVideo = null;
    this._speakerVolume = 1;
    this._speakerDeviceId = "default";
    /** @type {AnalyserNode | null} */
    this._speakerAnalyser = null;
    /** @type {Map<HTMLMediaElement, GainNode>} element playing -> its gain for the level meter */
    this._playing = new Map();
    this._buf = new Float32Array(2048);
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
    if (type === "microphone") return !!this._micStream && this._micDeviceId === id;
    if (type === "camera") return !!this._cameraTrack && this._cameraDeviceId === id;
    return this._speakerDeviceId === id;
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

  /** The sent-audio chain, built on first use. @returns {MicChain} */
  _ensureMicChain() {
    if (this._chain) return this._chain;
    const ctx = this.audioContext;
    const gain = ctx.createGain();
    gain.gain.value = this._micVolume;
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    // The input mixer: microphone (or external audio) after its volume, plus accompaniment.
    const mixer = ctx.createGain();
    const sent = ctx.createAnalyser();
    sent.fftSize = 1024;
    const dest = ctx.createMediaStreamDestination();
    gain.connect(analyser);
    gain.connect(mixer);
    mixer.connect(sent);
    mixer.connect(dest);
    this._chain = { gain, analyser, mixer, sent, dest };
    return this._chain;
  }

  /**
   * Open a microphone (default device when no id); closes external audio (mutually exclusive).
   * Returns the processed track (after the digital volume) that `publish("microphone")` sends.
   * @param {string} [deviceId] @param {{echoCancellation?: boolean, noiseSuppression?: boolean, autoGainControl?: boolean}} [opts]
   */
  async openMicrophone(deviceId, opts = {}) {
    /** @type {MediaTrackConstraints} */
    const audio = { echoCancellation: opts.echoCancellation ?? true,
      noiseSuppression: opts.noiseSuppression ?? true, autoGainControl: opts.autoGainControl ?? true };
    if (deviceId) audio.deviceId = { exact: deviceId };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio });
    } catch (e) { throw IlvbError.fromMediaError(e, "microphone"); }
    this.closeMicrophone();
    this._closeExternalAudio();
    const chain = this._ensureMicChain();
    this._micStream = stream;
    const track = stream.getAudioTracks()[0];
    this._micDeviceId = track.getSettings().deviceId || deviceId || "default";
    this._micSource = this.audioContext.createMediaStreamSource(stream);
    this._micSource.connect(chain.gain);
    const out = chain.dest.stream.getAudioTracks()[0];
    this.emit("track", { source: "microphone", track: out });
    return out;
  }

  /** Close the microphone (the sent track goes silent; it is not stopped). */
  closeMicrophone() {
    if (!this._micStream) return;
    try { this._micSource?.disconnect(); } catch { /* ignore */ }
    this._micStream.getTracks().forEach(stopTrack);
    this._micStream = null;
    this._micSource = null;
    this._micDeviceId = null;
  }

  /** True while a microphone or external audio feeds the sent audio. */
  get microphoneOpen() {
    return !!this._micStream || !!this._external;
  }

  /**
   * The track published for "microphone": the input mixer's output (microphone or external
   * audio after its volume, plus any accompaniment), or null when nothing feeds it.
   */
  get microphoneTrack() {
    if ((!this.microphoneOpen && !this._accompaniment) || !this._chain) return null;
    return this._chain.dest.stream.getAudioTracks()[0];
  }

  /** Peak level (0..1) of the latest frame of everything sent (microphone + accompaniment). */
  sentLevel() {
    if (!this._chain || !this.microphoneTrack) return 0;
    return peakOf(this._chain.sent, this._buf);
  }

  /**
   * Mix an accompaniment (music, system audio) into what is sent, with its own volume and level
   * (the "input mixer"). Replaces any previous accompaniment.
   * @param {HTMLMediaElement | MediaStreamTrack} source
   * @returns {Accompaniment}
   */
  openAccompaniment(source) {
    const ctx = this.audioContext;
    let node;
    if (source instanceof MediaStreamTrack) {
      if (source.kind !== "audio") throw new IlvbError("invalid_argument", "accompaniment needs an audio track");
      node = ctx.createMediaStreamSource(new MediaStream([source]));
    } else if (source instanceof HTMLMediaElement) {
      node = ctx.createMediaElementSource(source);
    } else {
      throw new IlvbError("invalid_argument", "accompaniment needs a media element or an audio track");
    }
    this.closeAccompaniment();
    const { mixer } = this._ensureMicChain();
    const acc = new Accompaniment(ctx, node, mixer, () => {
      if (this._accompaniment === acc) this._accompaniment = null;
    });
    this._accompaniment = acc;
    this.emit("track", { source: "microphone", track: this.microphoneTrack });
    return acc;
  }

  /** Stop mixing the accompaniment. */
  closeAccompaniment() {
    this._accompaniment?.close();
    this._accompaniment = null;
  }

  /** The open accompaniment, or null. */
  get accompaniment() {
    return this._accompaniment || null;
  }

  /**
   * Open app-fed audio instead of the microphone (closes the microphone).
   * @param {{sampleRate?: number}} [opts] @returns {Promise<ExternalAudio>}
   */
  async openExternalAudio(opts = {}) {
    const ctx = this.audioContext;
    if (!this._workletLoaded) {
      // A file beside this module (a blob: URL would be refused by a script-src 'self' policy).
      this._workletLoaded = ctx.audioWorklet.addModule(new URL("./feed-worklet.js", import.meta.url).href);
    }
    await this._workletLoaded;
    this.closeMicrophone();
    this._closeExternalAudio();
    const chain = this._ensureMicChain();
    const node = new AudioWorkletNode(ctx, "ilvb-feed", { numberOfInputs: 0, outputChannelCount: [1] });
    node.connect(chain.gain);
    this._external = new ExternalAudio(ctx, node, opts.sampleRate || 48000);
    this.emit("track", { source: "microphone", track: this.microphoneTrack });
    return this._external;
  }

  _closeExternalAudio() {
    this._external?.close();
    this._external = null;
  }

  /** Close external audio. */
  closeExternalAudio() {
    this._closeExternalAudio();
  }

  /** Microphone digital volume, 0..2 (1 = unchanged). */
  get microphoneVolume() {
    return this._micVolume;
  }

  set microphoneVolume(v) {
    const value = Number(v);
    if (!Number.isFinite(value) || value < 0 || value > 2) {
      throw new IlvbError("invalid_argument", `microphone volume must be 0..2, got ${v}`);
    }
    this._micVolume = value;
    if (this._chain) this._chain.gain.gain.setValueAtTime(value, this.audioContext.currentTime);
  }

  /** Peak level (0..1) of the latest frame of what is sent (after the volume). */
  microphoneLevel() {
    if (!this._chain || !this.microphoneOpen) return 0;
    return peakOf(this._chain.analyser, this._buf);
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

  /** The analyser every played track feeds (the speaker level), made on first use. */
  _ensureSpeakerAnalyser() {
    if (this._speakerAnalyser) return this._speakerAnalyser;
    this._speakerAnalyser = this.audioContext.createAnalyser();
    this._speakerAnalyser.fftSize = 1024;
    return this._speakerAnalyser;
  }

  /**
   * Play a received audio track on the speaker (volume and device applied) and measure it.
   * Returns a function that stops playing it.
   * @param {MediaStreamTrack} track
   */
  play(track) {
    const el = document.createElement("audio");
    el.autoplay = true;
    const stream = new MediaStream([track]);
    el.srcObject = stream;
    el.volume = Math.min(1, this._speakerVolume);
    if (this._speakerDeviceId !== "default" && el.setSinkId) {
      el.setSinkId(this._speakerDeviceId).catch(() => {});
    }
    el.play().catch(() => {});
    const analyser = this._ensureSpeakerAnalyser();
    const gain = this.audioContext.createGain();
    gain.gain.value = this._speakerVolume;
    const src = this.audioContext.createMediaStreamSource(stream);
    src.connect(gain).connect(analyser);
    this._playing.set(el, gain);
    return () => {
      try { src.disconnect(); gain.disconnect(); } catch { /* ignore */ }
      el.srcObject = null;
      this._playing.delete(el);
    };
  }

  /** Speaker volume, 0..1. */
  get speakerVolume() {
    return this._speakerVolume;
  }

  set speakerVolume(v) {
    const value = Number(v);
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      throw new IlvbError("invalid_argument", `speaker volume must be 0..1, got ${v}`);
    }
    this._speakerVolume = value;
    for (const [el, gain] of this._playing) {
      el.volume = value;
      gain.gain.value = value;
    }
  }

  /** Peak level (0..1) of the latest frame of what is played (after the speaker volume). */
  speakerLevel() {
    if (!this._speakerAnalyser) return 0;
    return peakOf(this._speakerAnalyser, this._buf);
  }

  /** Choose the speaker (audio output device) for everything played. @param {string} deviceId */
  async setSpeaker(deviceId) {
    const speakers = await this.list("speaker");
    if (!speakers.some((d) => d.id === deviceId)) {
      throw new IlvbError("device_unavailable", `no speaker with id ${deviceId}`);
    }
    this._speakerDeviceId = deviceId;
    await Promise.all([...this._playing.keys()].map((el) => el.setSinkId?.(deviceId).catch(() => {})));
  }

  /** The chosen speaker's id. */
  get speakerDeviceId() {
    return this._speakerDeviceId;
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
    this.closeMicrophone();
    this._closeExternalAudio();
    this.closeAccompaniment();
    this.closeCamera();
    navigator.mediaDevices?.removeEventListener?.("devicechange", this._onDeviceChange);
    for (const el of this._playing.keys()) el.srcObject = null;
    this._playing.clear();
    this._ctx?.close().catch(() => {});
    this._ctx = null;
    this._chain = null;
    this._speakerAnalyser = null;
  }
}
