// Image pre-processing before encoding (ilvb.client.capture.ProcessedVideo in the Python SDK):
// a video track's frames go through the app's hook (MediaStreamTrackProcessor ->
// hook -> MediaStreamTrackGenerator) and the result is a track like any other, shown in the
// local preview and published to the room.
//
//   const processed = new ProcessedVideo(devices.cameraTrack, (frame) => invert(frame));
//   preview.srcObject = new MediaStream([processed.track]);
//   await client.publish("camera", { track: processed.track });

import { IlvbError } from "./errors.js";
import { log } from "./logs.js";

/**
 * @typedef {(frame: VideoFrame) => VideoFrame | Promise<VideoFrame>} FrameHook
 * Returns the frame to send: the same one, or a new VideoFrame (then the hook closes the input).
 */

export class ProcessedVideo {
  /** @param {MediaStreamTrack} source a video track @param {FrameHook} hook */
  constructor(source, hook) {
    const g = /** @type {any} */ (globalThis);
    if (!source || source.kind !== "video") throw new IlvbError("invalid_argument", "ProcessedVideo needs a video track");
    if (typeof g.MediaStreamTrackProcessor === "undefined" || typeof g.MediaStreamTrackGenerator === "undefined") {
      throw new IlvbError("unsupported_feature", "this browser has no MediaStreamTrackProcessor / Generator");
    }
    this.source = source;
    this.hook = hook;
    /** Called with a hook's error (the frame is then sent unprocessed); default: logged. @type {(e: unknown) => void} */
    this.onError = (e) => log.error("video hook failed", e);
    const generator = new g.MediaStreamTrackGenerator({ kind: "video" });
    /** The processed track: preview it, publish it. @type {MediaStreamTrack} */
    this.track = generator;
    this.frames = 0;
    this._stopped = false;
    const reader = new g.MediaStreamTrackProcessor({ track: source }).readable.getReader();
    const writer = generator.writable.getWriter();
    this._done = this._pump(reader, writer);
  }

  /** @param {ReadableStreamDefaultReader<VideoFrame>} reader @param {WritableStreamDefaultWriter<VideoFrame>} writer */
  async _pump(reader, writer) {
    try {
      while (!this._stopped) {
        const { value: frame, done } = await reader.read();
        if (done || !frame) break;
        let out = frame;
        try {
          out = await this.hook(frame);
        } catch (e) {
          out = frame;
          this.onError(e);
        }
        this.frames++;
        await writer.write(out);
        if (out !== frame) frame.close();
      }
    } catch (e) {
      if (!this._stopped) log.warn("video processing ended", { message: String(e) });
    } finally {
      reader.releaseLock();
      writer.close().catch(() => {});
    }
  }

  /** Stop processing (the processed track ends; the source stays open). */
  stop() {
    this._stopped = true;
    this.track.stop();
  }
}
