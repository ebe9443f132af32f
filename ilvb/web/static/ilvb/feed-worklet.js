// The audio worklet behind ExternalAudio (loaded by Devices.openExternalAudio from this file, not
// from a blob: URL, so it runs under a script-src 'self' policy): it plays the pushed Float32
// chunks back to back (a FIFO), silence when the queue runs dry, and reports every 8 render
// quanta how many samples it has played so far.

class IlvbFeed extends AudioWorkletProcessor {
  constructor() {
    super();
    /** @type {Float32Array[]} */
    this.queue = [];
    this.head = 0;
    this.consumed = 0;
    this.ticks = 0;
    this.port.onmessage = (/** @type {MessageEvent<Float32Array>} */ e) => this.queue.push(e.data);
  }

  /** @param {Float32Array[][]} _inputs @param {Float32Array[][]} outputs */
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
