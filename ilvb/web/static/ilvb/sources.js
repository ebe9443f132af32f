// What the app can feed into what is sent, besides devices: app-fed audio (external audio
// capture) and an accompaniment mixed into the microphone (ilvb.client.sources in the Python SDK).

import { IlvbError } from "./errors.js";
import { peakOf } from "./tracks.js";

/**
 * App-fed audio ("external audio capture"): push Float32 PCM frames (~20 ms each)
 * and they play, back to back, into the microphone chain (volume, level, sent track) instead of
 * the microphone. Frames at another sample rate are resampled (linear) to the AudioContext's.
 */
export class ExternalAudio {
  /** @param {AudioContext} ctx @param {AudioWorkletNode} node @param {number} sampleRate */
  constructor(ctx, node, sampleRate) {
    this._ctx = ctx;
    this._node = node;
    this.sampleRate = sampleRate;
    this.closed = false;
    this._pushed = 0;
    this._consumed = 0;
    this._pos = 0;
    this._last = 0;
    node.port.onmessage = (e) => { this._consumed = e.data; };
  }

  /**
   * Queue one frame of mono samples (-1..1) at `sampleRate`.
   * @param {Float32Array | number[]} samples
   */
  push(samples) {
    if (this.closed) throw new IlvbError("invalid_state", "external audio is closed");
    if (!samples || samples.length === 0) throw new IlvbError("invalid_argument", "empty frame");
    const chunk = this._resample(Float32Array.from(samples));
    this._pushed += chunk.length;
    this._node.port.postMessage(chunk, [chunk.buffer]);
  }

  /**
   * Linear resampling to the context's rate, continuous across frames.
   * @param {Float32Array} input @returns {Float32Array}
   */
  _resample(input) {
    const rate = this._ctx.sampleRate;
    if (rate === this.sampleRate) return input;
    const step = this.sampleRate / rate;
    /** @type {number[]} */
    const out = [];
    let pos = this._pos;
    while (pos < input.length - 1) {
      const i = Math.floor(pos);
      const frac = pos - i;
      const a = i < 0 ? this._last : input[i];
      out.push(a + (input[i + 1] - a) * frac);
      pos += step;
    }
    this._pos = pos - input.length;
    this._last = input[input.length - 1];
    return Float32Array.from(out);
  }

  /** Seconds of audio queued ahead of playback (as last reported by the audio thread). */
  get queuedSeconds() {
    return Math.max(0, this._pushed - this._consumed) / this._ctx.sampleRate;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try { this._node.disconnect(); } catch { /* ignore */ }
  }
}

/**
 * An accompaniment mixed into what is sent: its own volume (0..2) and level.
 */
export class Accompaniment {
  /** @param {AudioContext} ctx @param {AudioNode} source @param {AudioNode} mixer @param {() => void} onClose */
  constructor(ctx, source, mixer, onClose) {
    this._source = source;
    this._gain = ctx.createGain();
    this._analyser = ctx.createAnalyser();
    this._analyser.fftSize = 1024;
    this._buf = new Float32Array(1024);
    source.connect(this._gain);
    this._gain.connect(this._analyser);
    this._gain.connect(mixer);
    this._onClose = onClose;
    this.closed = false;
  }

  /** Volume, 0..2 (1 = unchanged). */
  get volume() {
    return this._gain.gain.value;
  }

  set volume(v) {
    const value = Number(v);
    if (!Number.isFinite(value) || value < 0 || value > 2) {
      throw new IlvbError("invalid_argument", `accompaniment volume must be 0..2, got ${v}`);
    }
    this._gain.gain.value = value;
  }

  /** Peak level (0..1) of the latest frame of the accompaniment (after its volume). */
  level() {
    return this.closed ? 0 : peakOf(this._analyser, this._buf);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try { this._source.disconnect(); this._gain.disconnect(); } catch { /* ignore */ }
    this._onClose();
  }
}
