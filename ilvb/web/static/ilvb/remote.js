// Received video (the "remote virtual devices"; ilvb.client.remote in the Python SDK).

import { Emitter } from "./events.js";

/** @typedef {import("../ilvb.js").FrameInfo} FrameInfo */


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
    /** @type {"camera" | "screen" | null} */
    this.source = null;
    this.element = document.createElement("video");
    this.element.autoplay = true;
    this.element.muted = true;
    this.element.playsInline = true;
    this.element.srcObject = new MediaStream([track]);
    this.element.play().catch(() => {});
    this.frames = 0;
    /** @type {HTMLCanvasElement | null} */
    this._canvas = null;
    this._frameLoop = false;
  }

  /**
   * Call `fn({width, height, mediaTime, frames})` for every rendered frame
   * (requestVideoFrameCallback); returns an unsubscriber.
   * @param {(info: FrameInfo) => void} fn @returns {() => void}
   */
  onFrame(fn) {
    const off = this.on("frame", fn);
    if (!this._frameLoop && this.element.requestVideoFrameCallback) {
      this._frameLoop = true;
      /** @type {VideoFrameRequestCallback} */
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
    const g = /** @type {CanvasRenderingContext2D} only ever used in 2d */ (
      this._canvas.getContext("2d", { willReadFrequently: true }));
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
