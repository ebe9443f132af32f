// ilvb Web SDK: plain ES modules, no build step. Served by `ilvb serve` at /sdk/ilvb.js, the one
// entry point: import everything from here (the modules under /sdk/ilvb/ are its parts).
//
// Speaks the signaling protocol of docs/protocol.md (version 1) over one WebSocket, and mirrors
// the Python SDK (ilvb.client): connect, enter, enterCall, exit, members, senders, member,
// publish/unpublish, mute, requestViews, cancelViews, listenStop, listenResume, setPermissions,
// on/off for events. Media uses two RTCPeerConnections, as the protocol says: a send transport
// (the browser offers) and a receive transport (the server offers fixed slots a0.., v0..).
//
// Modules (under ilvb/):
//   client.js      Client, connect: rooms, calls, members, publishing, views (ilvb.client.client)
//   connection.js  Signaling: the WebSocket, requests, heartbeats, resume (ilvb.client.connection)
//   errors.js      IlvbError and CLIENT_ERROR_CODES, every code the SDK raises itself
//   events.js      Emitter (ilvb.client.events)
//   logs.js        SdkLogs, redact: the SDK's log lines, upload, crash reports (ilvb.client.logs)
//   devices.js     Devices: lists, opens and closes microphones, cameras and speakers, with
//   microphone.js  what is sent as "microphone" (device or app-fed audio, volume, input mixer)
//   speaker.js     what is played (volume, output device, level)
//   sources.js     ExternalAudio, Accompaniment: app-fed audio (ilvb.client.sources)
//   screen.js      SCREEN_MODES, captureScreen: desktop sharing
//   send.js        the send transport; receive.js the receive transport (ilvb.client.media)
//   reconnect.js   PathWatch (Client.path): a silent transport restarts ICE (ilvb.client.reconnect)
//   quality.js     QualityApplier (Client.quality): the pushed quality profile applied to what is sent, reported back
//   processing.js  ProcessedVideo: a frame hook before encoding (image pre-processing)
//   remote.js      RemoteVideo: one received video slot (ilvb.client.remote)
//   feed-worklet.js  the audio worklet behind ExternalAudio
//   peer.js, tracks.js  small helpers shared by the others
//
// Types: ilvb.d.ts beside this file; `tsc` checks the modules' JSDoc against it (scripts/test.sh).

export { Client, connect } from "./ilvb/client.js";
export { PROTOCOL_VERSION, Signaling } from "./ilvb/connection.js";
export { CAMERA_DEFAULTS, Devices } from "./ilvb/devices.js";
export { CLIENT_ERROR_CODES, IlvbError } from "./ilvb/errors.js";
export { Emitter } from "./ilvb/events.js";
export { SdkLogs, environment, redact } from "./ilvb/logs.js";
export { ProcessedVideo } from "./ilvb/processing.js";
export { RemoteVideo } from "./ilvb/remote.js";
export { SCREEN_MODES, captureScreen } from "./ilvb/screen.js";
export { Accompaniment, ExternalAudio } from "./ilvb/sources.js";
