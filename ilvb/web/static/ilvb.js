// ilvb Web SDK: plain ES module, no build step. Served by `ilvb serve` at /sdk/ilvb.js.
//
// Speaks the signaling protocol of docs/protocol.md (version 1) over one WebSocket, and mirrors
// the Python SDK (ilvb.client): connect, enter, enterCall, exit, members, senders, member,
// publish/unpublish, mute, requestViews, cancelViews, listenStop, listenResume, setPermissions,
// on/off for events. Media uses two RTCPeerConnections, as the protocol says: a send transport
// (the browser offers) and a receive transport (the server offers fixed slots a0.., v0..).
//
// Types: JSDoc here, ilvb.d.ts beside this file.

export const PROTOCOL_VERSION = 1;

/** Close codes after which the SDK does not try to resume the session (docs/protocol.md). */
const FINAL_CLOSE_CODES = [4400, 4401, 4403, 4409];

/** Desktop-sharing modes (MISSION §4/§5): resolution, frame rate, bitrate and content hint. */
export const SCREEN_MODES = Object.freeze({
  clear: Object.freeze({
    width: 1920, height: 1200, frameRate: 10, maxBitrate: 2_500_000,
    contentHint: "detail", degradationPreference: "maintain-resolution",
  }),
  smooth: Object.freeze({
    width: 920, height: 720, frameRate: 30, maxBitrate: 1_200_000,
    contentHint: "motion", degradationPreference: "maintain-resolution",
  }),
});

/** Camera defaults: 640×480 at 15 fps (MISSION §4). */
export const CAMERA_DEFAULTS = Object.freeze({ width: 640, height: 480, frameRate: 15 });

/**
 * A typed error with a stable `code` (docs/protocol.md "Error codes") and a human `message`.
 * Client-side codes: `unavailable` (socket gone), `timeout`, `invalid_state`,
 * `device_unavailable` (no such device / could not open it), `permission_denied` (the person
 * refused camera, microphone or screen access).
 */
export class IlvbError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   * @param {Record<string, unknown>} [details]
   */
  constructor(code, message, details) {
    super(message || code.replace(/_/g, " "));
    this.name = "IlvbError";
    /** @type {string} */
    this.code = code;
    /** @type {Record<string, unknown>} */
    this.details = details || {};
  }

  /** @param {{code?: string, message?: string, details?: Record<string, unknown>}} body */
  static fromWire(body) {
    return new IlvbError(String(body?.code || "internal_error"), String(body?.message || ""),
      body?.details);
  }

  /** Wrap a DOMException from getUserMedia/getDisplayMedia into a typed error. */
  static fromMediaError(err, what) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return new IlvbError("permission_denied", `access to the ${what} was refused`);
    }
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "NotReadableError") {
      return new IlvbError("device_unavailable", `the ${what} is not available (${name})`);
    }
    return new IlvbError("device_unavailable", `could not open the ${what}: ${err}`);
  }
}

/** A tiny event emitter; a failing listener is logged, never fatal. */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
  }

  /**
   * Call `fn(data)` for each `name` event ("*" receives `(name, data)`); returns an unsubscriber.
   * @param {string} name @param {Function} fn @returns {() => void}
   */
  on(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  /** @param {string} name @param {Function} fn */
  off(name, fn) {
    this._listeners.get(name)?.delete(fn);
  }

  /**
   * Resolve with the next `name` event whose data passes `filter` (reject after timeoutMs).
   * @param {string} name @param {(data: any) => boolean} [filter] @param {number} [timeoutMs]
   */
  once(name, filter = (_data) => true, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new IlvbError("timeout", `no ${name} event`)); },
        timeoutMs);
      const off = this.on(name, (data) => {
        if (!filter(data)) return;
        clearTimeout(timer); off(); resolve(data);
      });
    });
  }

  /** @param {string} name @param {unknown} [data] */
  emit(name, data) {
    for (const fn of [...(this._listeners.get(name) || [])]) {
      try { fn(data); } catch (e) { console.error(`ilvb: listener for ${name} failed`, e); }
    }
    for (const fn of [...(this._listeners.get("*") || [])]) {
      try { fn(name, data); } catch (e) { console.error("ilvb: * listener failed", e); }
    }
  }

  /** @param {string} name */
  listenerCount(name) {
    return this._listeners.get(name)?.size || 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Signaling

/**
 * One signaling session over WebSocket: request/response matching by id, heartbeats, events,
 * and resume within the disconnect window when the socket drops.
 */
export class Signaling extends Emitter {
  /** @param {string} url @param {string} ticket @param {{requestTimeoutMs?: number, resumeWindowMs?: number}} [opts] */
  constructor(url, ticket, opts = {}) {
    super();
    this.url = url;
    this.ticket = ticket;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15000;
    this.resumeWindowMs = opts.resumeWindowMs ?? 30000;
    this.userId = "";
    this.appId = "";
    this.session = "";
    this.heartbeatIntervalMs = 10000;
    this._nextId = 1;
    /** @type {Map<number, {resolve: Function, reject: Function, timer: any}>} */
    this._pending = new Map();
    /** @type {WebSocket | null} */
    this._ws = null;
    this._heartbeat = null;
    this.closed = false;
  }

  /** Open the socket and send `hello` (with `resume` when given). */
  async open(resume) {
    const ws = await new Promise((resolve, reject) => {
      let sock;
      try { sock = new WebSocket(this.url); } catch (e) {
        reject(new IlvbError("unavailable", `cannot open ${this.url}: ${e}`)); return;
      }
      sock.onopen = () => resolve(sock);
      sock.onerror = () => reject(new IlvbError("unavailable", `cannot connect to ${this.url}`));
    });
    this._ws = ws;
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onclose = (ev) => this._onClose(ws, ev);
    ws.onerror = null;
    /** @type {Record<string, unknown>} */
    const hello = { protocol: PROTOCOL_VERSION, ticket: this.ticket };
    if (resume) hello.resume = resume;
    const data = await this.request("hello", hello);
    this.userId = data.user_id;
    this.appId = data.app_id;
    this.session = data.session;
    this.heartbeatIntervalMs = (data.heartbeat_interval_s || 10) * 1000;
    this._startHeartbeat();
    return data;
  }

  _startHeartbeat() {
    clearInterval(this._heartbeat);
    this._heartbeat = setInterval(() => {
      this.request("ping").catch(() => {});
    }, this.heartbeatIntervalMs);
  }

  /**
   * Send a request and resolve with its response `data`; reject with an IlvbError.
   * @param {string} type @param {Record<string, unknown>} [data] @returns {Promise<any>}
   */
  request(type, data) {
    if (this.closed || !this._ws || this._ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new IlvbError("unavailable", "the signaling connection is not open"));
    }
    const id = this._nextId++;
    const frame = { id, type };
    if (data !== undefined) frame.data = data;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new IlvbError("timeout", `${type}: no reply within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      this._ws.send(JSON.stringify(frame));
    });
  }

  _onFrame(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { console.warn("ilvb: bad frame", text); return; }
    if (msg.type === "event") {
      this.emit("event", { name: msg.event, data: msg.data || {} });
      return;
    }
    const pending = this._pending.get(msg.id);
    if (!pending) {
      if (msg.type === "error") this.emit("event", { name: "error", data: IlvbError.fromWire(msg.error) });
      return;
    }
    this._pending.delete(msg.id);
    clearTimeout(pending.timer);
    if (msg.type === "error") pending.reject(IlvbError.fromWire(msg.error));
    else pending.resolve(msg.data || {});
  }

  _failPending(error) {
    for (const [id, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(error);
      this._pending.delete(id);
    }
  }

  async _onClose(ws, ev) {
    if (ws !== this._ws) return;
    clearInterval(this._heartbeat);
    this._failPending(new IlvbError("unavailable", `signaling closed (${ev.code} ${ev.reason})`));
    if (this.closed) return;
    // Final: a refused hello (4400/4401/4403) or a session resumed on another socket (4409).
    // Anything else (a drop, 4408 silent, 4429 slow consumer) may resume within the window.
    if (FINAL_CLOSE_CODES.includes(ev.code) || !this.session) {
      this.closed = true;
      this.emit("event", { name: "connection.closed",
        data: { error: new IlvbError("unavailable", `closed by the server: ${ev.code} ${ev.reason}`) } });
      return;
    }
    this.emit("event", { name: "connection.lost", data: { code: ev.code } });
    const deadline = Date.now() + this.resumeWindowMs;
    let lastError = null;
    while (!this.closed && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      try {
        const hello = await this.open(this.session);
        this.emit("event", { name: "connection.resumed", data: { resumed: !!hello.resumed } });
        return;
      } catch (e) { lastError = e; }
    }
    if (!this.closed) {
      this.closed = true;
      this.emit("event", { name: "connection.closed", data: { error: lastError } });
    }
  }

  /** Close the socket for good. Idempotent. */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this._heartbeat);
    this._failPending(new IlvbError("unavailable", "the client was closed"));
    try { this._ws?.close(1000, "bye"); } catch { /* already closed */ }
  }
}

// ---------------------------------------------------------------------------------------------
// Devices (MISSION §5)

/** @param {MediaStreamTrack | null | undefined} track */
function stopTrack(track) {
  try { track?.stop(); } catch { /* ignore */ }
}

/** Peak of |sample| in an analyser's latest frame, 0..1. @param {AnalyserNode} analyser */
function peakOf(analyser, buf) {
  analyser.getFloatTimeDomainData(buf);
  let peak = 0;
  for (let i = 0; i < buf.length; i++) {
    const v = Math.abs(buf[i]);
    if (v > peak) peak = v;
  }
  return Math.min(1, peak);
}

// The AudioWorklet that plays pushed samples back to back (a FIFO of Float32 chunks).
const EXTERNAL_AUDIO_WORKLET = `
class IlvbFeed extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = []; this.head = 0; this.consumed = 0; this.ticks = 0;
    this.port.onmessage = (e) => this.queue.push(e.data);
  }
  process(_inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    while (i < out.length && this.queue.length) {
      const chunk = this.queue[0];
      const n = Math.min(out.length - i, chunk.length - this.head);
      out.set(chunk.subarray(this.head, this.head + n), i);
      i += n; this.head += n; this.consumed += n;
      if (this.head >= chunk.length) { this.queue.shift(); this.head = 0; }
    }
    out.fill(0, i);
    if (++this.ticks % 8 === 0) this.port.postMessage(this.consumed);
    return true;
  }
}
registerProcessor("ilvb-feed", IlvbFeed);
`;

/**
 * App-fed audio (MISSION §5 "external audio capture"): push Float32 PCM frames (~20 ms each)
 * and they play, back to back, into the microphone chain (volume, level, sent track) instead of
 * the microphone. Frames at another sample rate are resampled (linear) to the AudioContext's.
 */
export class ExternalAudio {
  /** @param {AudioContext} ctx @param {AudioWorkletNode} node @param {number} sampleRate */
  constructor(ctx, node, sampleRate) {
    this.ctx = ctx;
    this.node = node;
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
    this.node.port.postMessage(chunk, [chunk.buffer]);
  }

  _resample(input) {
    const rate = this.ctx.sampleRate;
    if (rate === this.sampleRate) return input;
    const step = this.sampleRate / rate;
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
    return Math.max(0, this._pushed - this._consumed) / this.ctx.sampleRate;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try { this.node.disconnect(); } catch { /* ignore */ }
  }
}

/**
 * An accompaniment mixed into what is sent: its own volume (0..2) and level (MISSION §5).
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
    this._micStream = null;
    this._micDeviceId = null;
    this._micSource = null;
    this._external = null;
    /** @type {Accompaniment | null} */
    this._accompaniment = null;
    this._mixer = null;
    this._sentAnalyser = null;
    this._micGain = null;
    this._micAnalyser = null;
    this._micDest = null;
    this._micVolume = 1;
    this._cameraTrack = null;
    this._cameraDeviceId = null;
    this._externalVideo = null;
    this._speakerVolume = 1;
    this._speakerDeviceId = "default";
    this._speakerAnalyser = null;
    /** @type {Map<HTMLMediaElement, GainNode>} element playing -> its gain for the level meter */
    this._playing = new Map();
    this._buf = new Float32Array(2048);
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
   * @param {"microphone"|"camera"|"speaker"} [type]
   */
  async list(type) {
    const kinds = { audioinput: "microphone", videoinput: "camera", audiooutput: "speaker" };
    const all = await navigator.mediaDevices.enumerateDevices();
    const out = [];
    for (const d of all) {
      const t = kinds[d.kind];
      if (!t || (type && t !== type)) continue;
      out.push({ id: d.deviceId, name: d.label || `${t} ${out.length + 1}`, type: t,
        groupId: d.groupId, opened: this._isOpen(t, d.deviceId) });
    }
    return out;
  }

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

  _ensureMicChain() {
    if (this._micDest) return;
    const ctx = this.audioContext;
    this._micGain = ctx.createGain();
    this._micGain.gain.value = this._micVolume;
    this._micAnalyser = ctx.createAnalyser();
    this._micAnalyser.fftSize = 1024;
    // The input mixer: microphone (or external audio) after its volume, plus accompaniment.
    this._mixer = ctx.createGain();
    this._sentAnalyser = ctx.createAnalyser();
    this._sentAnalyser.fftSize = 1024;
    this._micDest = ctx.createMediaStreamDestination();
    this._micGain.connect(this._micAnalyser);
    this._micGain.connect(this._mixer);
    this._mixer.connect(this._sentAnalyser);
    this._mixer.connect(this._micDest);
  }

  /**
   * Open a microphone (default device when no id); closes external audio (mutually exclusive).
   * Returns the processed track (after the digital volume) that `publish("microphone")` sends.
   * @param {string} [deviceId] @param {{echoCancellation?: boolean, noiseSuppression?: boolean, autoGainControl?: boolean}} [opts]
   */
  async openMicrophone(deviceId, opts = {}) {
    const audio = { echoCancellation: opts.echoCancellation ?? true,
      noiseSuppression: opts.noiseSuppression ?? true, autoGainControl: opts.autoGainControl ?? true };
    if (deviceId) audio.deviceId = { exact: deviceId };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio });
    } catch (e) { throw IlvbError.fromMediaError(e, "microphone"); }
    this.closeMicrophone();
    this._closeExternalAudio();
    this._ensureMicChain();
    this._micStream = stream;
    const track = stream.getAudioTracks()[0];
    this._micDeviceId = track.getSettings().deviceId || deviceId || "default";
    this._micSource = this.audioContext.createMediaStreamSource(stream);
    this._micSource.connect(this._micGain);
    const out = this._micDest.stream.getAudioTracks()[0];
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
    if (!this.microphoneOpen && !this._accompaniment) return null;
    return this._micDest.stream.getAudioTracks()[0];
  }

  /** Peak level (0..1) of the latest frame of everything sent (microphone + accompaniment). */
  sentLevel() {
    if (!this._sentAnalyser || !this.microphoneTrack) return 0;
    return peakOf(this._sentAnalyser, this._buf);
  }

  /**
   * Mix an accompaniment (music, system audio) into what is sent, with its own volume and level
   * (MISSION §5 "accompaniment" / "input mixer"). Replaces any previous accompaniment.
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
    this._ensureMicChain();
    const acc = new Accompaniment(ctx, node, this._mixer, () => {
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
      const url = URL.createObjectURL(new Blob([EXTERNAL_AUDIO_WORKLET], { type: "text/javascript" }));
      this._workletLoaded = ctx.audioWorklet.addModule(url);
    }
    await this._workletLoaded;
    this.closeMicrophone();
    this._closeExternalAudio();
    this._ensureMicChain();
    const node = new AudioWorkletNode(ctx, "ilvb-feed", { numberOfInputs: 0, outputChannelCount: [1] });
    node.connect(this._micGain);
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
    if (this._micGain) this._micGain.gain.setValueAtTime(value, this.audioContext.currentTime);
  }

  /** Peak level (0..1) of the latest frame of what is sent (after the volume). */
  microphoneLevel() {
    if (!this._micAnalyser || !this.microphoneOpen) return 0;
    return peakOf(this._micAnalyser, this._buf);
  }

  // --- camera / external video -----------------------------------------------------------------

  /**
   * Open a camera (default when no id). Opening a camera closes the other camera and any external
   * video (mutually exclusive). Returns the video track.
   * @param {string} [deviceId] @param {{width?: number, height?: number, frameRate?: number}} [opts]
   */
  async openCamera(deviceId, opts = {}) {
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
   * Use a canvas the app draws into as the camera (MISSION §5 "external video capture").
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

  _ensureSpeakerAnalyser() {
    if (this._speakerAnalyser) return;
    this._speakerAnalyser = this.audioContext.createAnalyser();
    this._speakerAnalyser.fftSize = 1024;
  }

  /**
   * Play a received audio track on the speaker (volume and device applied) and measure it.
   * Returns a function that stops playing it.
   * @param {MediaStreamTrack} track
   */
  play(track) {
    const el = document.createElement("audio");
    el.autoplay = true;
    el.srcObject = new MediaStream([track]);
    el.volume = Math.min(1, this._speakerVolume);
    if (this._speakerDeviceId !== "default" && el.setSinkId) {
      el.setSinkId(this._speakerDeviceId).catch(() => {});
    }
    el.play().catch(() => {});
    this._ensureSpeakerAnalyser();
    const gain = this.audioContext.createGain();
    gain.gain.value = this._speakerVolume;
    const src = this.audioContext.createMediaStreamSource(el.srcObject);
    src.connect(gain).connect(this._speakerAnalyser);
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
    this._micDest = null;
    this._micGain = null;
    this._micAnalyser = null;
    this._mixer = null;
    this._sentAnalyser = null;
    this._speakerAnalyser = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Screen sharing

/** Resolve once `video` has a decoded frame (videoWidth > 0), or after `timeoutMs`. */
function firstFrame(video, timeoutMs = 3000) {
  return new Promise((resolve) => {
    if (video.videoWidth) { resolve(); return; }
    const done = () => { clearTimeout(timer); video.removeEventListener("resize", done); resolve(); };
    const timer = setTimeout(done, timeoutMs);
    video.addEventListener("resize", done);
  });
}

/**
 * Capture the screen (or a region of it) for a mode, at exactly the mode's resolution.
 * The capture is used as is when its frames already have the mode's size; otherwise (a region,
 * a screen of another size or shape) it is drawn, scaled to fit and centred, onto a canvas of
 * the mode's size and that canvas is sent.
 * @param {"clear"|"smooth"} mode
 * @param {{region?: {x: number, y: number, width: number, height: number}}} [opts]
 * @returns {Promise<{track: MediaStreamTrack, stop: () => void, mode: object}>}
 */
export async function captureScreen(mode, opts = {}) {
  const m = SCREEN_MODES[mode];
  if (!m) throw new IlvbError("invalid_argument", `unknown screen mode ${mode} (clear or smooth)`);
  const region = opts.region;
  if (region && !(region.width > 0 && region.height > 0 && region.x >= 0 && region.y >= 0)) {
    throw new IlvbError("invalid_argument", "region needs x, y >= 0 and width, height > 0");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({
      video: { width: { ideal: m.width }, height: { ideal: m.height },
        frameRate: { ideal: m.frameRate, max: m.frameRate } },
      audio: false,
    });
  } catch (e) { throw IlvbError.fromMediaError(e, "screen"); }
  const raw = stream.getVideoTracks()[0];
  raw.contentHint = m.contentHint;
  const video = document.createElement("video");
  video.muted = true;
  video.srcObject = new MediaStream([raw]);
  await video.play().catch(() => {});
  // getSettings() may announce the asked size while frames come at the screen's own size.
  await firstFrame(video);
  if (!region && video.videoWidth === m.width && video.videoHeight === m.height) {
    video.srcObject = null;
    return { track: raw, stop: () => stopTrack(raw), mode: m };
  }
  const canvas = document.createElement("canvas");
  canvas.width = m.width;
  canvas.height = m.height;
  const g = canvas.getContext("2d");
  let running = true;
  const draw = () => {
    if (!running || !video.videoWidth) return;
    const src = region || { x: 0, y: 0, width: video.videoWidth, height: video.videoHeight };
    const scale = Math.min(m.width / src.width, m.height / src.height);
    const w = Math.round(src.width * scale);
    const h = Math.round(src.height * scale);
    g.fillStyle = "black";
    g.fillRect(0, 0, m.width, m.height);
    g.drawImage(video, src.x, src.y, src.width, src.height,
      Math.round((m.width - w) / 2), Math.round((m.height - h) / 2), w, h);
  };
  draw();
  const timer = setInterval(draw, 1000 / m.frameRate);
  const track = canvas.captureStream(m.frameRate).getVideoTracks()[0];
  track.contentHint = m.contentHint;
  const stop = () => {
    running = false;
    clearInterval(timer);
    video.srcObject = null;
    stopTrack(raw);
    stopTrack(track);
  };
  raw.addEventListener("ended", () => { stop(); track.dispatchEvent(new Event("ended")); });
  return { track, stop, mode: m };
}

// ---------------------------------------------------------------------------------------------
// Remote video

/**
 * One receive video slot's picture: a <video> element, raw frames, and a per-frame event.
 * The slot carries whichever member the server put in it (`userId`, `source`).
 */
export class RemoteVideo extends Emitter {
  /** @param {string} mid @param {MediaStreamTrack} track */
  constructor(mid, track) {
    super();
    this.mid = mid;
    this.track = track;
    /** @type {string | null} */
    this.userId = null;
    /** @type {string | null} */
    this.source = null;
    this.element = document.createElement("video");
    this.element.autoplay = true;
    this.element.muted = true;
    this.element.playsInline = true;
    this.element.srcObject = new MediaStream([track]);
    this.element.play().catch(() => {});
    this.frames = 0;
    this._canvas = null;
    this._frameLoop = false;
  }

  /**
   * Call `fn({width, height, mediaTime, frames})` for every rendered frame
   * (requestVideoFrameCallback); returns an unsubscriber.
   */
  onFrame(fn) {
    const off = this.on("frame", fn);
    if (!this._frameLoop && this.element.requestVideoFrameCallback) {
      this._frameLoop = true;
      const tick = (_now, meta) => {
        this.frames++;
        this.emit("frame", { width: meta.width, height: meta.height, mediaTime: meta.mediaTime,
          frames: this.frames });
        if (this._frameLoop) this.element.requestVideoFrameCallback(tick);
      };
      this.element.requestVideoFrameCallback(tick);
    }
    return off;
  }

  /** The current frame as ImageData (RGBA), or null before the first frame. */
  captureFrame() {
    const w = this.element.videoWidth;
    const h = this.element.videoHeight;
    if (!w || !h) return null;
    if (!this._canvas) this._canvas = document.createElement("canvas");
    this._canvas.width = w;
    this._canvas.height = h;
    const g = this._canvas.getContext("2d", { willReadFrequently: true });
    g.drawImage(this.element, 0, 0, w, h);
    return g.getImageData(0, 0, w, h);
  }

  /**
   * Raw frames as VideoFrame objects (MediaStreamTrackProcessor, where the browser has it).
   * Close each frame after use. Returns a ReadableStream<VideoFrame> or null.
   */
  frameStream() {
    const Processor = /** @type {any} */ (globalThis).MediaStreamTrackProcessor;
    if (typeof Processor === "undefined") return null;
    return new Processor({ track: this.track.clone() }).readable;
  }

  close() {
    this._frameLoop = false;
    this.element.srcObject = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Client

/** Wait until a peer connection has gathered its ICE candidates (the protocol has no trickle). */
function gathered(pc, timeoutMs = 5000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { pc.removeEventListener("icegatheringstatechange", check); resolve(); };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(done, timeoutMs);
  });
}

/** Codecs of `kind` whose mimeType is `name` ("VP8", "H264", "opus"), for setCodecPreferences. */
function codecsFor(kind, name) {
  const caps = RTCRtpSender.getCapabilities(kind);
  const wanted = (caps?.codecs || []).filter((c) => c.mimeType.toLowerCase() === `${kind}/${name}`.toLowerCase());
  if (!wanted.length) throw new IlvbError("invalid_argument", `this browser cannot send ${name}`);
  // H.264: prefer packetization-mode=1 constrained baseline (what every SFU and aiortc speak).
  wanted.sort((a, b) => score(b) - score(a));
  return wanted;

  function score(c) {
    const f = c.sdpFmtpLine || "";
    return (f.includes("packetization-mode=1") ? 2 : 0) + (f.includes("42e01f") ? 1 : 0);
  }
}

/**
 * Cap a screen sender at its mode's bitrate and frame rate, never scaling the resolution down.
 * @param {RTCRtpSender} sender @param {typeof SCREEN_MODES.clear} mode
 */
async function applyScreenMode(sender, mode) {
  const p = sender.getParameters();
  if (!p.encodings || !p.encodings.length) p.encodings = [{}];
  for (const e of p.encodings) {
    e.maxBitrate = mode.maxBitrate;
    e.maxFramerate = mode.frameRate;
    e.scaleResolutionDownBy = 1;
  }
  p.degradationPreference = mode.degradationPreference;
  try {
    await sender.setParameters(p);
  } catch (e) {
    console.warn("ilvb: could not apply the screen mode", e);
  }
}

const SOURCES = ["microphone", "camera", "screen"];

/**
 * A connected ilvb client: room and call membership, members, media, devices.
 *
 * Events (`client.on(name, fn)`): the server events of docs/protocol.md (`room.entered`,
 * `room.exited`, `members.entered`, `members.exited`, `member.state`, `call.ended`, `slot`,
 * `permissions.changed`) with their `data`; and client events: `video.added` /
 * `video.removed` ({userId, source, video: RemoteVideo}), `audio.slot` ({mid, userId}),
 * `unpublished` ({source, reason: "server"}: a permission revoke stopped one of my sources),
 * `connection.lost`, `connection.resumed`, `connection.closed`, `error` (IlvbError of a
 * background step, e.g. receive negotiation).
 */
export class Client extends Emitter {
  /**
   * Connect to an ilvb server with a login ticket.
   * @param {string} url  e.g. "ws://127.0.0.1:7880/ws" (or the http(s) origin; /ws is added)
   * @param {string} ticket
   * @param {{devices?: Devices, requestTimeoutMs?: number}} [opts]
   * @returns {Promise<Client>}
   */
  static async connect(url, ticket, opts = {}) {
    const client = new Client(Client.wsUrl(url), ticket, opts);
    await client._signaling.open();
    return client;
  }

  /** Turn an http(s) origin or ws(s) URL into the signaling URL. @param {string} url */
  static wsUrl(url) {
    const u = new URL(url, typeof location !== "undefined" ? location.href : undefined);
    if (u.protocol === "http:") u.protocol = "ws:";
    if (u.protocol === "https:") u.protocol = "wss:";
    if (u.pathname === "/" || u.pathname === "") u.pathname = "/ws";
    return u.toString();
  }

  /** @param {string} url @param {string} ticket @param {{devices?: Devices, requestTimeoutMs?: number}} opts */
  constructor(url, ticket, opts = {}) {
    super();
    this._signaling = new Signaling(url, ticket, opts);
    this._signaling.on("event", ({ name, data }) => this._onEvent(name, data));
    /** The device manager (shared with the app). */
    this.devices = opts.devices || new Devices();
    this._ownsDevices = !opts.devices;
    /** @type {string | null} */
    this.room = null;
    this.kind = null;
    /** My MemberState after entering. */
    this.me = null;
    this.audioSlots = 0;
    this.videoSlots = 0;
    /** @type {RTCPeerConnection | null} */
    this.sendPc = null;
    /** @type {RTCPeerConnection | null} */
    this.recvPc = null;
    /** @type {Map<string, RTCRtpTransceiver>} source -> send transceiver */
    this._senders = new Map();
    /** @type {{stop: () => void} | null} the running screen capture */
    this._screen = null;
    /** @type {Map<string, {userId: string|null, source: string|null, kind: string}>} */
    this.slots = new Map();
    /** @type {Map<string, RemoteVideo>} mid -> video */
    this._videos = new Map();
    /** @type {Map<string, () => void>} */
    this._audioStops = new Map();
    this._negotiation = Promise.resolve();
    /** @type {Map<string, MediaStreamTrack>} tracks the server stopped (a send transport closing) */
    this._stopped = new Map();
    /** How each source was published (codec, screen mode): reused when a transport is rebuilt.
     * @type {Map<string, {opts: object, screenMode: object|null}>} */
    this._publishedWith = new Map();
    this._onDeviceTrack = this.devices.on("track", (e) => this._replaceTrack(e.source, e.track));
  }

  /** My user id (from the ticket). */
  get userId() {
    return this._signaling.userId;
  }

  /** The app id the ticket belongs to. */
  get appId() {
    return this._signaling.appId;
  }

  /** Send a raw request (for anything not wrapped below). */
  request(type, data) {
    return this._signaling.request(type, data);
  }

  _onEvent(name, data) {
    if (name === "slot") this._onSlot(data);
    if (name === "room.exited") this._leftRoom();
    if (name === "member.state" && data.user_id === this.userId) {
      this.me = data;
      this._dropRevoked(data);
    }
    if (name === "room.entered") this.me = data.me;
    this.emit(name, data);
    if (name === "transport.closed") this._transportClosed(data).catch((e) => this.emit("error", e));
    if (name === "connection.resumed" && !data.resumed && this.room) {
      // A new session, not the old one: the server already removed me from the room.
      this._leftRoom();
      this.emit("room.exited", { reason: "timeout" });
    }
  }

  // --- rooms -----------------------------------------------------------------------------------

  /**
   * Enter a multi-person room (created by the first member). Opens the receive transport unless
   * `receive: false`. Resolves with the `room.enter` response data.
   * @param {string|number} room @param {{receive?: boolean}} [opts]
   */
  async enter(room, opts = {}) {
    return this._enter(room, "room", opts);
  }

  /**
   * Enter a two-person call; room 0 allocates a new call number (in the result's `room`) for
   * `opts.callee` (a user id) when given, and its token (the result's `call_token`). Joining a
   * number works for the named callee, or with the caller's `opts.token`.
   * @param {string|number} [room]
   * @param {{receive?: boolean, callee?: string, token?: string}} [opts]
   */
  async enterCall(room = 0, opts = {}) {
    return this._enter(room, "call", opts);
  }

  async _enter(room, kind, opts) {
    const req = { room, kind };
    if (opts.callee !== undefined) req.callee = opts.callee;
    if (opts.token !== undefined) req.token = opts.token;
    const data = await this.request("room.enter", req);
    this.room = data.room;
    this.kind = data.kind || kind;
    this.me = data.me;
    this.audioSlots = data.audio_slots;
    this.videoSlots = data.video_slots;
    if (opts.receive !== false) {
      try {
        await this.openReceive();
      } catch (e) {
        this.emit("error", e);
      }
    }
    return data;
  }

  /** Leave the room (or call); closes both transports. */
  async exit() {
    try {
      await this.request("room.exit", {});
    } finally {
      this._leftRoom();
    }
  }

  _leftRoom() {
    this.room = null;
    this._closeMedia();
  }

  /**
   * One page of members, in entry order.
   * @param {{cursor?: string|null, limit?: number}} [opts]
   * @returns {Promise<{members: object[], next_cursor: string|null, total: number}>}
   */
  async members(opts = {}) {
    const data = {};
    if (opts.cursor != null) data.cursor = opts.cursor;
    if (opts.limit != null) data.limit = opts.limit;
    return this.request("room.members", data);
  }

  /** Every member, paging through the whole room. */
  async allMembers() {
    const out = [];
    let cursor = null;
    do {
      const page = await this.members({ cursor, limit: 500 });
      out.push(...page.members);
      cursor = page.next_cursor;
    } while (cursor);
    return out;
  }

  /** Members sending audio, video or screen. */
  async senders() {
    return (await this.request("room.senders", {})).members;
  }

  /** One member's state. @param {string} userId */
  async member(userId) {
    return this.request("member.get", { user_id: userId });
  }

  /**
   * Change my permissions (within the ticket's ceiling). Returns my MemberState.
   * @param {{audio?: boolean, video?: boolean, screen?: boolean}} perms
   */
  async setPermissions(perms) {
    const me = await this.request("permissions.set", perms);
    this.me = me;
    return me;
  }

  // --- sending ---------------------------------------------------------------------------------

  /**
   * Publish a source. The server checks permission and the sender caps first (typed errors
   * `permission_denied`, `audio_sender_limit`, `video_sender_limit`); then the track is added to
   * the send transport and negotiated.
   *
   * - "microphone": the device manager's microphone (opened on demand) or external audio;
   * - "camera": the camera (opened on demand) or external video, or `opts.track`;
   * - "screen": desktop capture in `opts.mode` ("clear" default or "smooth"), `opts.region` crops.
   *
   * `opts.codec` forces the video codec ("VP8" or "H264") with setCodecPreferences.
   * @param {"microphone"|"camera"|"screen"} source
   * @param {{track?: MediaStreamTrack, codec?: string, mode?: "clear"|"smooth", region?: object, deviceId?: string}} [opts]
   */
  async publish(source, opts = {}) {
    if (!SOURCES.includes(source)) throw new IlvbError("invalid_argument", `unknown source ${source}`);
    if (!this.room) throw new IlvbError("not_in_room", "enter a room first");
    if (this._senders.get(source)?.sender.track) {
      throw new IlvbError("invalid_state", `${source} is already published`);
    }
    await this.request("media.publish", { source });
    let track;
    let screen = null;
    try {
      if (opts.track) track = opts.track;
      else if (source === "microphone") {
        track = this.devices.microphoneTrack || await this.devices.openMicrophone(opts.deviceId);
      } else if (source === "camera") {
        track = this.devices.cameraTrack || await this.devices.openCamera(opts.deviceId);
      } else {
        screen = await captureScreen(opts.mode || "clear", { region: opts.region });
        track = screen.track;
      }
      await this._addSendTrack(source, track, opts, screen?.mode);
    } catch (e) {
      screen?.stop();
      await this.request("media.unpublish", { source }).catch(() => {});
      throw e;
    }
    if (screen) {
      this._screen?.stop();
      this._screen = screen;
      track.addEventListener("ended", () => { this.unpublish("screen").catch(() => {}); });
    }
    return { source, track };
  }

  /** The track currently sent for a source, or null. @param {string} source */
  localTrack(source) {
    return this._senders.get(source)?.sender.track || null;
  }

  /** Stop sending a source. @param {"microphone"|"camera"|"screen"} source */
  async unpublish(source) {
    this._stopped.delete(source);
    const t = this._senders.get(source);
    if (t?.sender.track) await t.sender.replaceTrack(null);
    if (source === "screen") { this._screen?.stop(); this._screen = null; }
    await this.request("media.unpublish", { source });
  }

  /** Mute or unmute a source I send (others see it in `member.state`). */
  async mute(source, muted = true) {
    if (!SOURCES.includes(source)) throw new IlvbError("invalid_argument", `unknown source ${source}`);
    await this.request("media.mute", { source, muted: !!muted });
    const track = this.localTrack(source);
    if (track) track.enabled = !muted;
  }

  async _ensureSendPc() {
    if (!this.sendPc) {
      this.sendPc = new RTCPeerConnection({ bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    }
    return this.sendPc;
  }

  _serial(fn) {
    const run = this._negotiation.then(fn, fn);
    this._negotiation = run.catch(() => {});
    return run;
  }

  async _addSendTrack(source, track, opts, screenMode) {
    this._publishedWith.set(source, { opts, screenMode });
    return this._serial(async () => {
      const pc = await this._ensureSendPc();
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
        await this._negotiateSend();
      } catch (e) {
        pc.removeTrack(tr.sender);
        tr.stop?.();
        this._senders.delete(source);
        throw e;
      }
    });
  }

  async _negotiateSend() {
    const pc = this.sendPc;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await gathered(pc);
    /** @type {Record<string, string>} */
    const sources = {};
    for (const [source, tr] of this._senders) if (tr.mid != null) sources[tr.mid] = source;
    const { sdp } = await this.request("transport.send.offer", { sdp: pc.localDescription.sdp, sources });
    await pc.setRemoteDescription({ type: "answer", sdp });
  }

  /** The server stopped one of my sources (permission revoked): stop sending its track. */
  _dropRevoked(me) {
    const key = { microphone: "audio", camera: "video", screen: "screen" };
    for (const [source, tr] of this._senders) {
      if (!tr.sender.track || me.sending?.[key[source]] !== false) continue;
      this._stopped.set(source, tr.sender.track); // sent again if a transport.closed follows
      tr.sender.replaceTrack(null).catch(() => {});
      if (source === "screen") { this._screen?.stop(); this._screen = null; }
      this.emit("unpublished", { source, reason: "server" });
    }
  }

  async _replaceTrack(source, track) {
    const tr = this._senders.get(source);
    if (tr && tr.sender.track && tr.sender.track !== track) await tr.sender.replaceTrack(track);
  }

  /**
   * The server lost my send and/or receive transport, or restarted its media
   * (`transport.closed`): ask again for the sources I was sending and build new transports.
   * Emits `transport.restored` when done.
   */
  async _transportClosed(data) {
    if (!this.room) return;
    const which = data.transport;
    if ((which === "send" || which === "both") && this.sendPc) {
      /** @type {Map<string, MediaStreamTrack>} */
      const tracks = new Map();
      const key = { microphone: "audio", camera: "video", screen: "screen" };
      for (const [source, tr] of this._senders) {
        const track = tr.sender.track || this._stopped.get(source);
        const allowed = this.me?.permissions?.[key[source]] !== false; // not a revoke
        if (track && track.readyState === "live" && allowed) tracks.set(source, track);
      }
      await this._serial(async () => {
        this._stopped.clear();
        this._senders.clear();
        this.sendPc?.close();
        this.sendPc = null;
      });
      for (const [source, track] of tracks) {
        try {
          await this.request("media.publish", { source });
          const how = this._publishedWith.get(source) || { opts: {}, screenMode: null };
          await this._addSendTrack(source, track, how.opts, how.screenMode);
        } catch (e) {
          this.emit("error", e); // e.g. the sender cap was taken meanwhile
        }
      }
    }
    if ((which === "recv" || which === "both") && this.recvPc) {
      for (const stop of this._audioStops.values()) stop();
      this._audioStops.clear();
      for (const v of this._videos.values()) {
        if (v.userId) this.emit("video.removed", { userId: v.userId, source: v.source, video: v });
        v.close();
      }
      this._videos.clear();
      this.slots.clear();
      this.recvPc.close();
      this.recvPc = null;
      await this.openReceive();
    }
    this.emit("transport.restored", { transport: which });
  }

  // --- receiving -------------------------------------------------------------------------------

  /** Open the receive transport (done by `enter` unless `receive: false`). Idempotent. */
  async openReceive() {
    if (this.recvPc) return;
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    this.recvPc = pc;
    pc.ontrack = (ev) => this._onTrack(ev);
    try {
      const { sdp } = await this.request("transport.recv.open", {});
      await pc.setRemoteDescription({ type: "offer", sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await gathered(pc);
      await this.request("transport.recv.answer", { sdp: pc.localDescription.sdp });
    } catch (e) {
      pc.close();
      this.recvPc = null;
      throw e;
    }
    // Tracks may have arrived before the slot events: bind those that are already known.
    for (const [mid, slot] of this.slots) this._bindSlot(mid, slot);
  }

  _onTrack(ev) {
    const mid = ev.transceiver.mid;
    if (ev.track.kind === "video") {
      const video = new RemoteVideo(mid, ev.track);
      this._videos.set(mid, video);
    } else {
      this._audioStops.set(mid, this.devices.play(ev.track));
    }
    const slot = this.slots.get(mid);
    if (slot) this._bindSlot(mid, slot);
  }

  _onSlot(data) {
    const slot = { userId: data.user_id ?? null, source: data.source ?? null, kind: data.kind };
    this.slots.set(data.mid, slot);
    this._bindSlot(data.mid, slot);
  }

  _bindSlot(mid, slot) {
    if (slot.kind === "audio") {
      this.emit("audio.slot", { mid, userId: slot.userId });
      return;
    }
    const video = this._videos.get(mid);
    if (!video) return;
    if (video.userId === slot.userId && video.source === slot.source) return;
    if (video.userId) this.emit("video.removed", { userId: video.userId, source: video.source, video });
    video.userId = slot.userId;
    video.source = slot.source;
    if (slot.userId) this.emit("video.added", { userId: slot.userId, source: slot.source, video });
  }

  /**
   * The RemoteVideo currently showing a member's source, or null.
   * @param {string} userId @param {"camera"|"screen"} [source]
   */
  remoteVideo(userId, source = "camera") {
    for (const v of this._videos.values()) if (v.userId === userId && v.source === source) return v;
    return null;
  }

  /**
   * The received audio of one member before mixing (the slot's track), or null when none of
   * my audio slots carries that member now. @param {string} userId
   * @returns {{mid: string, track: MediaStreamTrack} | null}
   */
  remoteAudio(userId) {
    for (const [mid, slot] of this.slots) {
      if (slot.kind === "audio" && slot.userId === userId) {
        const tr = this.recvPc?.getTransceivers().find((t) => t.mid === mid);
        if (tr) return { mid, track: tr.receiver.track };
      }
    }
    return null;
  }

  /** Every RemoteVideo slot (bound or not). */
  remoteVideos() {
    return [...this._videos.values()];
  }

  /**
   * Ask for members' video (≤ 4 views; 3 while I send video). Returns the current views
   * `[{user_id, source, mid}]`. @param {string[]} userIds @param {"camera"|"screen"} [source]
   */
  async requestViews(userIds, source = "camera") {
    return (await this.request("view.request", { user_ids: userIds, source })).views;
  }

  /** Cancel views of some members (or all when omitted). @param {string[]} [userIds] */
  async cancelViews(userIds) {
    const data = userIds ? { user_ids: userIds } : {};
    return (await this.request("view.cancel", data)).views;
  }

  /** Stop listening to some members' audio (only for me). @param {string[]} userIds */
  async listenStop(userIds) {
    return (await this.request("listen.stop", { user_ids: userIds })).not_listening;
  }

  /** Listen again to some members (or everyone when omitted). @param {string[]} [userIds] */
  async listenResume(userIds) {
    const data = userIds ? { user_ids: userIds } : {};
    return (await this.request("listen.resume", data)).not_listening;
  }

  /** getStats() of both transports: {send, recv} as arrays of report objects. */
  async stats() {
    const dump = async (pc) => (pc ? [...(await pc.getStats()).values()] : []);
    return { send: await dump(this.sendPc), recv: await dump(this.recvPc) };
  }

  _closeMedia() {
    for (const stop of this._audioStops.values()) stop();
    this._audioStops.clear();
    for (const v of this._videos.values()) v.close();
    this._videos.clear();
    this.slots.clear();
    this._screen?.stop();
    this._screen = null;
    for (const tr of this._senders.values()) {
      if (tr.sender.track?.kind === "video" && tr.sender.track !== this.devices.cameraTrack) stopTrack(tr.sender.track);
    }
    this._senders.clear();
    this.sendPc?.close();
    this.sendPc = null;
    this.recvPc?.close();
    this.recvPc = null;
  }

  /** Leave, close transports and the signaling connection. Idempotent. */
  async close() {
    if (this._signaling.closed) return;
    if (this.room) await this.exit().catch(() => {});
    this._closeMedia();
    this._onDeviceTrack();
    if (this._ownsDevices) this.devices.close();
    this._signaling.close();
  }
}

/**
 * Connect (shorthand for Client.connect).
 * @param {string} url @param {string} ticket @param {{devices?: Devices}} [opts]
 */
export function connect(url, ticket, opts) {
  return Client.connect(url, ticket, opts);
}
