// Small helpers shared by the device manager, the app-fed sources and screen capture.

/** Stop a track, ignoring one that is already gone. @param {MediaStreamTrack | null | undefined} track */
export function stopTrack(track) {
  try { track?.stop(); } catch { /* ignore */ }
}

/**
 * Peak of |sample| in an analyser's latest frame, 0..1.
 * @param {AnalyserNode} analyser @param {Float32Array<ArrayBuffer>} buf scratch, analyser-sized or larger
 */
export function peakOf(analyser, buf) {
  analyser.getFloatTimeDomainData(buf);
  let peak = 0;
  for (let i = 0; i < buf.length; i++) {
    const v = Math.abs(buf[i]);
    if (v > peak) peak = v;
  }
  return Math.min(1, peak);
}
