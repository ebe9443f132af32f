// The parts of the AudioWorkletGlobalScope that ilvb/web/static/ilvb/feed-worklet.js uses:
// TypeScript's lib.dom has no audio-worklet scope (https://webaudio.github.io/web-audio-api/).

declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}

declare function registerProcessor(
  name: string,
  processorCtor: new (options?: AudioWorkletNodeOptions) => AudioWorkletProcessor,
): void;
