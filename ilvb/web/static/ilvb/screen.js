// Desktop sharing: the two screen modes, capture at a mode's exact size, the sender's caps.

import { IlvbError } from "./errors.js";
import { stopTrack } from "./tracks.js";

/** Desktop-sharing modes: resolution, frame rate, bitrate and content hint. */
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

/** @typedef {import("../ilvb.js").ScreenMode} ScreenMode */

/**
 * Resolve once `video` has a decoded frame (videoWidth > 0), or after `timeoutMs`.
 * @param {HTMLVideoElement} video @returns {Promise<void>}
 */
function firstFrame(video, timeoutMs = 3000) {
  return new Promise((/** @type {(value?: undefined) => void} */ resolve) => {
    if (video.videoWidth) { resolve(); return; }
    const done = () => { clearTimeout(timer); video.removeEventListener("resize", done); resolve(); };
    const timer = setTimeout(done, timeoutMs);
    video.addEventListener("resize", done);
  });
}

/**
 * A mode with the quality profile's values for it (size, frame rate, bitrate), when given.
 * @param {"clear"|"smooth"} mode
 * @param {{width: number, height: number, fps: number, bitrate_kbps: number} | null | undefined} profile
 * @returns {ScreenMode}
 */
export function screenMode(mode, profile) {
  const m = SCREEN_MODES[mode];
  if (!m) throw new IlvbError("invalid_argument", `unknown screen mode ${mode} (clear or smooth)`);
  if (!profile) return m;
  return Object.freeze({ ...m, width: profile.width, height: profile.height, frameRate: profile.fps,
    maxBitrate: profile.bitrate_kbps * 1000 });
}

/** Which mode a running capture is ("detail" is clear, "motion" smooth). @param {ScreenMode} m */
export function screenModeName(m) {
  return m.contentHint === "motion" ? "smooth" : "clear";
}

/**
 * Capture the screen (or a region of it) for a mode, at exactly the mode's resolution (the
 * quality profile's for that mode when `opts.profile` gives it).
 * The capture is used as is when its frames already have the mode's size; otherwise (a region,
 * a screen of another size or shape) it is drawn, scaled to fit and centred, onto a canvas of
 * the mode's size and that canvas is sent.
 * @param {"clear"|"smooth"} mode
 * @param {{region?: {x: number, y: number, width: number, height: number},
 *   profile?: {width: number, height: number, fps: number, bitrate_kbps: number} | null}} [opts]
 * @returns {Promise<{track: MediaStreamTrack, stop: () => void, mode: ScreenMode}>}
 */
export async function captureScreen(mode, opts = {}) {
  const m = screenMode(mode, opts.profile);
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
  const g = /** @type {CanvasRenderingContext2D} a new canvas always has one */ (canvas.getContext("2d"));
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

/**
 * Cap a screen sender at its mode's bitrate and frame rate, never scaling the resolution down.
 * @param {RTCRtpSender} sender @param {ScreenMode} mode
 */
export async function applyScreenMode(sender, mode) {
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
