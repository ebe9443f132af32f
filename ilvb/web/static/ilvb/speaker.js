// The speaker: every received audio track played through one output device, at one volume,
// and measured for the speaker level.

import { IlvbError } from "./errors.js";
import { peakOf } from "./tracks.js";

/**
 * Plays tracks through <audio> elements (volume and output device applied) and, in parallel,
 * through a GainNode at the same volume into one AnalyserNode for the level meter.
 */
export class Speaker {
  /** @param {() => AudioContext} context the shared AudioContext (made on first use) */
  constructor(context) {
    this._context = context;
    this._volume = 1;
    this._deviceId = "default";
    /** @type {AnalyserNode | null} */
    this._analyser = null;
    /** @type {MediaStreamAudioDestinationNode | null} the mix as a stream (outputStream) */
    this._mix = null;
    /** @type {Map<HTMLMediaElement, GainNode>} element playing -> its gain for the level meter */
    this._playing = new Map();
    this._buf = new Float32Array(1024);
  }

  /** The analyser every played track feeds, made on first use. */
  _ensureAnalyser() {
    if (this._analyser) return this._analyser;
    this._analyser = this._context().createAnalyser();
    this._analyser.fftSize = 1024;
    return this._analyser;
  }

  /**
   * Everything played, mixed at the speaker volume, as a MediaStream (the output mixer's mix:
   * record it, analyse it or send it on). The same stream on every call.
   * @returns {MediaStream}
   */
  outputStream() {
    if (!this._mix) {
      this._mix = this._context().createMediaStreamDestination();
      for (const gain of this._playing.values()) gain.connect(this._mix);
    }
    return this._mix.stream;
  }

  /**
   * Play a received audio track and measure it; returns a function that stops playing it.
   * @param {MediaStreamTrack} track
   */
  play(track) {
    const el = document.createElement("audio");
    el.autoplay = true;
    const stream = new MediaStream([track]);
    el.srcObject = stream;
    el.volume = Math.min(1, this._volume);
    if (this._deviceId !== "default" && el.setSinkId) {
      el.setSinkId(this._deviceId).catch(() => {});
    }
    el.play().catch(() => {});
    const analyser = this._ensureAnalyser();
    const gain = this._context().createGain();
    gain.gain.value = this._volume;
    const src = this._context().createMediaStreamSource(stream);
    src.connect(gain).connect(analyser);
    if (this._mix) gain.connect(this._mix);
    this._playing.set(el, gain);
    return () => {
      try { src.disconnect(); gain.disconnect(); } catch { /* ignore */ }
      el.srcObject = null;
      this._playing.delete(el);
    };
  }

  /** Volume, 0..1. */
  get volume() {
    return this._volume;
  }

  set volume(v) {
    const value = Number(v);
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      throw new IlvbError("invalid_argument", `speaker volume must be 0..1, got ${v}`);
    }
    this._volume = value;
    for (const [el, gain] of this._playing) {
      el.volume = value;
      gain.gain.value = value;
    }
  }

  /** Peak level (0..1) of the latest frame of what is played (after the volume). */
  level() {
    if (!this._analyser) return 0;
    return peakOf(this._analyser, this._buf);
  }

  /** The output device's id ("default" until one is chosen). */
  get deviceId() {
    return this._deviceId;
  }

  /** Play everything on this output device (the caller checked it exists). @param {string} deviceId */
  async use(deviceId) {
    this._deviceId = deviceId;
    await Promise.all([...this._playing.keys()].map((el) => el.setSinkId?.(deviceId).catch(() => {})));
  }

  /** Stop playing everything (its AudioContext is closing). */
  close() {
    for (const el of this._playing.keys()) el.srcObject = null;
    this._playing.clear();
    this._analyser = null;
    this._mix = null;
  }
}
