// The "microphone" source as it is sent: a microphone device or app-fed audio, its digital
// volume and level, and the input mixer that adds an accompaniment.

import { IlvbError } from "./errors.js";
import { Accompaniment, ExternalAudio } from "./sources.js";
import { peakOf, stopTrack } from "./tracks.js";

/**
 * The chain: microphone (or external audio) → `gain` (digital volume) → `analyser` (its level),
 * then `mixer` (plus any accompaniment) → `sent` (level of everything sent) and `dest` (the
 * track that is published).
 * @typedef {{gain: GainNode, analyser: AnalyserNode, mixer: GainNode, sent: AnalyserNode,
 *   dest: MediaStreamAudioDestinationNode}} Chain
 */

/**
 * What `publish("microphone")` sends. A microphone and external audio are mutually exclusive;
 * an accompaniment is mixed with either (or sent alone). The published track is the chain's
 * output, so switching what feeds it never changes the track.
 */
export class Microphone {
  /** @param {() => AudioContext} context the shared AudioContext (made on first use) */
  constructor(context) {
    this._context = context;
    /** @type {Chain | null} */
    this._chain = null;
    /** @type {MediaStream | null} */
    this._stream = null;
    /** @type {string | null} */
    this._deviceId = null;
    /** @type {MediaStreamAudioSourceNode | null} */
    this._source = null;
    /** @type {ExternalAudio | null} */
    this._external = null;
    /** @type {Promise<void> | null} the external-audio worklet, loaded once per AudioContext */
    this._workletLoaded = null;
    /** @type {Accompaniment | null} */
    this._accompaniment = null;
    this._volume = 1;
    this._buf = new Float32Array(1024);
  }

  /** The chain, built on first use. @returns {Chain} */
  _ensureChain() {
    if (this._chain) return this._chain;
    const ctx = this._context();
    const gain = ctx.createGain();
    gain.gain.value = this._volume;
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
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
   * Open a microphone device (default when no id), closing any other and external audio.
   * Returns the published track.
   * @param {string} [deviceId] @param {{echoCancellation?: boolean, noiseSuppression?: boolean, autoGainControl?: boolean}} [opts]
   * @returns {Promise<MediaStreamTrack>}
   */
  async openDevice(deviceId, opts = {}) {
    /** @type {MediaTrackConstraints} */
    const audio = { echoCancellation: opts.echoCancellation ?? true,
      noiseSuppression: opts.noiseSuppression ?? true, autoGainControl: opts.autoGainControl ?? true };
    if (deviceId) audio.deviceId = { exact: deviceId };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio });
    } catch (e) { throw IlvbError.fromMediaError(e, "microphone"); }
    this.closeDevice();
    this.closeExternal();
    const chain = this._ensureChain();
    this._stream = stream;
    const track = stream.getAudioTracks()[0];
    this._deviceId = track.getSettings().deviceId || deviceId || "default";
    this._source = this._context().createMediaStreamSource(stream);
    this._source.connect(chain.gain);
    return chain.dest.stream.getAudioTracks()[0];
  }

  /** The open microphone device's own track (before the chain), or null. */
  get deviceTrack() {
    return this._stream?.getAudioTracks()[0] || null;
  }

  /** Close the microphone device (the sent track goes silent; it is not stopped). */
  closeDevice() {
    if (!this._stream) return;
    try { this._source?.disconnect(); } catch { /* ignore */ }
    this._stream.getTracks().forEach(stopTrack);
    this._stream = null;
    this._source = null;
    this._deviceId = null;
  }

  /** The open microphone device's id, or null. */
  get deviceId() {
    return this._deviceId;
  }

  /** True while a microphone or external audio feeds the chain. */
  get open() {
    return !!this._stream || !!this._external;
  }

  /** The published track, or null when nothing feeds the chain. */
  get track() {
    if ((!this.open && !this._accompaniment) || !this._chain) return null;
    return this._chain.dest.stream.getAudioTracks()[0];
  }

  /**
   * Open app-fed audio instead of the microphone device (closing it).
   * @param {{sampleRate?: number}} [opts] @returns {Promise<ExternalAudio>}
   */
  async openExternal(opts = {}) {
    const ctx = this._context();
    if (!this._workletLoaded) {
      // A file beside this module (a blob: URL would be refused by a script-src 'self' policy).
      this._workletLoaded = ctx.audioWorklet.addModule(new URL("./feed-worklet.js", import.meta.url).href);
    }
    await this._workletLoaded;
    this.closeDevice();
    this.closeExternal();
    const chain = this._ensureChain();
    const node = new AudioWorkletNode(ctx, "ilvb-feed", { numberOfInputs: 0, outputChannelCount: [1] });
    node.connect(chain.gain);
    this._external = new ExternalAudio(ctx, node, opts.sampleRate || 48000);
    return this._external;
  }

  /** Close external audio. */
  closeExternal() {
    this._external?.close();
    this._external = null;
  }

  /**
   * Mix an accompaniment into what is sent, replacing any previous one.
   * @param {HTMLMediaElement | MediaStreamTrack} source @returns {Accompaniment}
   */
  openAccompaniment(source) {
    const ctx = this._context();
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
    const { mixer } = this._ensureChain();
    const acc = new Accompaniment(ctx, node, mixer, () => {
      if (this._accompaniment === acc) this._accompaniment = null;
    });
    this._accompaniment = acc;
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

  /** Digital volume, 0..2 (1 = unchanged). */
  get volume() {
    return this._volume;
  }

  set volume(v) {
    const value = Number(v);
    if (!Number.isFinite(value) || value < 0 || value > 2) {
      throw new IlvbError("invalid_argument", `microphone volume must be 0..2, got ${v}`);
    }
    this._volume = value;
    if (this._chain) this._chain.gain.gain.setValueAtTime(value, this._context().currentTime);
  }

  /** Peak level (0..1) of the latest frame of the microphone or external audio, after the volume. */
  level() {
    if (!this._chain || !this.open) return 0;
    return peakOf(this._chain.analyser, this._buf);
  }

  /** Peak level (0..1) of the latest frame of everything sent (with the accompaniment). */
  sentLevel() {
    if (!this._chain || !this.track) return 0;
    return peakOf(this._chain.sent, this._buf);
  }

  /** Close what feeds the chain and drop the chain (its AudioContext is closing). */
  close() {
    this.closeDevice();
    this.closeExternal();
    this.closeAccompaniment();
    this._chain = null;
    this._workletLoaded = null;
  }
}
