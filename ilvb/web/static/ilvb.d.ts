// Type declarations for the ilvb Web SDK (/sdk/ilvb.js). Wire formats: docs/protocol.md.
// tests/web/types/conformance.ts checks that the modules under ilvb/ implement them (tsc).

export declare const PROTOCOL_VERSION: 1;

export type Source = "microphone" | "camera" | "screen";
export type DeviceType = "microphone" | "camera" | "speaker";
export type ScreenModeName = "clear" | "smooth";

export interface ScreenMode {
  width: number;
  height: number;
  frameRate: number;
  maxBitrate: number;
  contentHint: "detail" | "motion";
  degradationPreference: RTCDegradationPreference;
}

/** clear: 1920×1200 @ 10 fps, 2.5 Mbps, "detail"; smooth: 920×720 @ 30 fps, 1.2 Mbps, "motion". */
export declare const SCREEN_MODES: Readonly<Record<ScreenModeName, ScreenMode>>;
export declare const CAMERA_DEFAULTS: Readonly<{ width: number; height: number; frameRate: number }>;

/** The codes the Web SDK raises itself (not from the server). */
export type ClientErrorCode =
  | "unavailable" | "timeout" | "invalid_argument" | "invalid_state" | "not_in_room"
  | "permission_denied" | "device_unavailable" | "unsupported_feature" | "internal_error";

/** Every code the Web SDK raises itself, with what it means. */
export declare const CLIENT_ERROR_CODES: Readonly<Record<ClientErrorCode, string>>;

/** The other codes of the error table (ilvb/errors.py, docs/protocol.md): only the server sends these. */
export type ServerErrorCode =
  | "invalid_json" | "unknown_type" | "message_too_large" | "unsupported_protocol"
  | "request_timeout" | "unauthenticated" | "ticket_malformed" | "ticket_expired"
  | "ticket_lifetime_exceeded" | "ticket_bad_signature" | "ticket_wrong_app" | "ticket_wrong_room"
  | "banned" | "admin_key_required" | "app_signature_required" | "session_required"
  | "invalid_credentials" | "csrf_failed" | "signup_closed" | "weak_password" | "oidc_malformed"
  | "oidc_unknown_issuer" | "oidc_wrong_audience" | "oidc_expired" | "oidc_not_yet_valid"
  | "oidc_bad_signature" | "oidc_algorithm_refused" | "oidc_provider_unavailable"
  | "invalid_identity_provider" | "already_in_room" | "not_found" | "app_not_found"
  | "room_not_found" | "member_not_found" | "audio_sender_limit" | "video_sender_limit"
  | "view_limit" | "call_full" | "limit_exceeded" | "rate_limited" | "body_too_large"
  | "headers_too_large" | "media_unavailable" | "device_not_found" | "device_busy"
  | "unsupported_feature" | "log_quota_exceeded" | "account_not_found" | "account_suspended"
  | "email_taken" | "app_owned" | "invalid_amount" | "invalid_price_plan"
  | "invalid_quality_profile" | "unknown_template" | "invalid_sdp" | "unsupported_codec"
  | "recording_not_found" | "recording_file_not_found" | "recording_already_running"
  | "room_no_senders" | "recording_mode_unavailable" | "invalid_file_name"
  | "stage_right_required" | "invite_not_found" | "invite_not_for_you"
  | "invite_already_answered" | "invite_expired" | "invite_pending" | "already_on_stage"
  | "not_on_stage" | "room_locked" | "room_no_senders" | "live_already_started"
  | "live_not_found" | "rtmp_url_invalid" | "composite_capacity" | "recorder_failed"
  | "not_ready" | "metrics_credential_required"
  | "webhook_signature_invalid";

/** Error codes of docs/protocol.md plus the client-side ones. */
export type ErrorCode = ClientErrorCode | ServerErrorCode | (string & {});

export declare class IlvbError extends Error {
  readonly name: "IlvbError";
  code: ErrorCode;
  details: Record<string, unknown>;
  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>);
  static fromWire(body: { code?: string; message?: string; details?: Record<string, unknown> }): IlvbError;
  static fromMediaError(err: unknown, what: string): IlvbError;
}

export declare class Emitter<Events extends Record<string, unknown> = Record<string, unknown>> {
  on<K extends keyof Events & string>(name: K, fn: (data: Events[K]) => void): () => void;
  on(name: "*", fn: (name: string, data: unknown) => void): () => void;
  off(name: string, fn: Function): void;
  once<K extends keyof Events & string>(
    name: K, filter?: (data: Events[K]) => boolean, timeoutMs?: number): Promise<Events[K]>;
  emit(name: string, data?: unknown): void;
  listenerCount(name: string): number;
}

export interface MemberState {
  user_id: string;
  role: string;
  entered_at: number;
  permissions: { audio: boolean; video: boolean; screen: boolean };
  sending: { audio: boolean; video: boolean; screen: boolean };
  muted: { audio: boolean; video: boolean; screen: boolean };
  connected: boolean;
  /** The SFU hears nothing from the member's media transports (for 1.5 s); it is restarting ICE. */
  reconnecting: boolean;
  /** Brought on stage by an accepted invitation. */
  on_stage: boolean;
  hand_raised: boolean;
}

/** A stage invitation (docs/protocol.md, "Stage and room controls"). */
export interface StageInvite {
  invite_id: string;
  user_id: string;
  /** The inviter; null when the app's server invited over REST. */
  by: string | null;
  permissions: { audio: boolean; video: boolean; screen: boolean };
  expires_at: number;
  status: "pending" | "accepted" | "declined" | "expired" | "cancelled";
}

export interface EnterResult {
  room: string | number;
  kind: "room" | "call";
  me: MemberState;
  member_count: number;
  audio_slots: number;
  video_slots: number;
  /** The call's token, when I created the call (room 0): give it to the other party. */
  call_token?: string;
  /** My effective quality profile (applied by the SDK, see `Client.quality`). */
  quality?: QualityUpdate;
}

/** A quality profile (docs/console.md "Quality profiles"). */
export interface QualityProfile {
  audio: {
    codec: string; sample_rate: 8000 | 16000 | 24000 | 48000; channels: 1 | 2;
    packet_ms: 10 | 20 | 40 | 60; bitrate_kbps: number; agc: boolean; ns: boolean; aec: boolean;
  };
  video: {
    codec: string; width: number; height: number; fps: number; bitrate_kbps: number;
    min_qp: number; max_qp: number; gop: number; sharpen: boolean; sharpen_strength: number; fec: boolean;
  };
  screen: Record<"clear" | "smooth", { width: number; height: number; fps: number; bitrate_kbps: number }>;
  network: {
    max_send_kbps: number; max_recv_kbps: number;
    degradation: "maintain-framerate" | "maintain-resolution" | "balanced";
  };
}

/** room.enter's `quality` and the `quality.changed` event: the profile that applies to me. */
export interface QualityUpdate {
  /** `platform/role`, `platform/*` or `template:NAME`. */
  source: string;
  version: number;
  profile: QualityProfile;
}

/** What the SDK applied of a profile (sent as `quality.report`; keys are profile field names). */
export interface QualityReport {
  version: number;
  applied: Record<string, boolean | number | string | null>;
  /** Field names this browser cannot honour, e.g. `video.min_qp`. */
  unsupported: string[];
}

/** Applies the pushed profile to the published camera and microphone, then reports it. */
export interface QualityApplier {
  /** The profile in effect, or null before the server sent one. */
  readonly current: QualityUpdate | null;
  /** The last report sent to the server. */
  readonly lastReport: QualityReport | null;
  /** Apply a profile now; resolves with the report sent (null on failure, emitted as `error`). */
  set(update: QualityUpdate): Promise<QualityReport | null>;
  /** Apply the current profile again. */
  reapply(): Promise<QualityReport | null>;
}

export interface View { user_id: string; source: "camera" | "screen"; mid: string }

export interface SlotEvent {
  mid: string;
  kind: "audio" | "video";
  user_id: string | null;
  source: Source | null;
}

export interface ClientEvents {
  "room.entered": { room: string | number; me: MemberState };
  "room.exited": {
    reason:
      | "left"
      | "kicked"
      | "room_closed"
      | "call_ended"
      | "timeout"
      | "replaced"
      | "ticket_expired"
      | "ticket_wrong_room"
      | "revoked";
  };
  "members.entered": { members: MemberState[] };
  "members.exited": { user_ids: string[]; reason: string };
  "member.state": MemberState;
  "call.ended": { reason: string };
  "slot": SlotEvent;
  /** The app's server started the room's bypass live (HLS and/or `rtmp` RTMP pushes). */
  "live.started": { hls: boolean; rtmp: number };
  /** The room's bypass live ended (`stopped`, `room_closed`, `recorder_exited`, `shutdown`). */
  "live.stopped": { reason: string };
  "permissions.changed": { permissions: MemberState["permissions"]; by: "self" | "server" };
  "video.added": { userId: string; source: "camera" | "screen"; video: RemoteVideo };
  "video.removed": { userId: string; source: "camera" | "screen"; video: RemoteVideo };
  "audio.slot": { mid: string; userId: string | null };
  /** The server stopped one of my sources (e.g. its permission was revoked). */
  "unpublished": { source: Source; reason: "server" };
  /** The server lost my `send` / `recv` transport (or `both`: `reason` `media_restarted`); the SDK renegotiates. */
  "transport.closed": { transport: "send" | "recv" | "both"; reason: string };
  /** New transports are negotiated after a `transport.closed`. */
  "transport.restored": { transport: "send" | "recv" | "both" };
  /** My media path went silent (nothing received for 1.5 s); the SDK restarts ICE, in the room. */
  "media.reconnecting": { transport: "send" | "recv" | "both" };
  /** Packets arrive again on every transport that was lost; `outage_ms` since the last one before. */
  "media.reconnected": { transport: "send" | "recv" | "both"; outage_ms: number; ice_restarts: number };
  /** The server changed my quality profile; the SDK applies it (then `quality.applied`). */
  "quality.changed": QualityUpdate;
  /** The pushed profile was applied and reported to the server. */
  "quality.applied": QualityReport;
  /** Stage invitations, to the invitee and the inviter (docs/protocol.md, "Stage and room controls"). */
  "stage.invited": StageInvite;
  "stage.accepted": StageInvite;
  "stage.declined": StageInvite;
  "stage.expired": StageInvite;
  "stage.cancelled": StageInvite;
  /** Taken off stage (`by` null: the app's server). */
  "stage.removed": { user_id: string; by: string | null };
  /** To members with the stage right. */
  "hand.raised": { user_id: string };
  "hand.lowered": { user_id: string };
  /** A host muted my microphone (the SDK disables the local track). */
  "control.muted": { source: "microphone"; by: string | null };
  "control.screen_stopped": { by: string | null };
  "room.locked": { locked: boolean; by: string | null };
  "connection.lost": { code: number };
  /** `resumed: false`: a new session (the old one had expired); `room.exited` follows if I was in one. */
  "connection.resumed": { resumed: boolean };
  "connection.closed": { error: IlvbError | null };
  "error": IlvbError;
  [name: string]: unknown;
}

export declare class Signaling extends Emitter {
  url: string;
  /** A request with no reply within this fails with `timeout` (default 15000). */
  requestTimeoutMs: number;
  /** After a drop the session is resumed for up to this long (default 30000). */
  resumeWindowMs: number;
  /** The server's heartbeat interval (hello's `heartbeat_interval_s`): a `ping` is sent this often. */
  heartbeatIntervalMs: number;
  userId: string;
  appId: string;
  session: string;
  closed: boolean;
  constructor(url: string, ticket: string, opts?: { requestTimeoutMs?: number; resumeWindowMs?: number });
  open(resume?: string): Promise<Record<string, unknown>>;
  request<T = any>(type: string, data?: Record<string, unknown>): Promise<T>;
  /** session.refresh: a new ticket for this session and its later resumes; resolves with its expiry. */
  refresh(ticket: string): Promise<number>;
  close(): void;
}

export interface DeviceInfo {
  id: string;
  name: string;
  type: DeviceType;
  groupId: string;
  opened: boolean;
}

export declare class ExternalAudio {
  /** Made by Devices.openExternalAudio, not by apps. */
  constructor(ctx: AudioContext, node: AudioWorkletNode, sampleRate: number);
  readonly sampleRate: number;
  readonly closed: boolean;
  /** Queue one mono frame (−1..1) at `sampleRate`, ~20 ms each; frames play back to back. */
  push(samples: Float32Array | number[]): void;
  readonly queuedSeconds: number;
  close(): void;
}

/** Music or system audio mixed into what is sent, with its own volume and level. */
export declare class Accompaniment {
  /** Made by Devices.openAccompaniment, not by apps. */
  constructor(ctx: AudioContext, source: AudioNode, mixer: AudioNode, onClose: () => void);
  /** 0..2 */
  volume: number;
  level(): number;
  readonly closed: boolean;
  close(): void;
}

export interface DevicesEvents {
  devicechange: { added: DeviceInfo[]; removed: DeviceInfo[]; devices: DeviceInfo[] };
  track: { source: "microphone" | "camera"; track: MediaStreamTrack };
  [name: string]: unknown;
}

export declare class Devices extends Emitter<DevicesEvents> {
  constructor();
  readonly audioContext: AudioContext;
  list(type?: DeviceType): Promise<DeviceInfo[]>;
  count(type: DeviceType): Promise<number>;
  opened(): Promise<DeviceInfo[]>;
  get(id: string): Promise<DeviceInfo | null>;
  watch(): Promise<DeviceInfo[]>;

  openMicrophone(deviceId?: string, opts?: {
    echoCancellation?: boolean; noiseSuppression?: boolean; autoGainControl?: boolean;
  }): Promise<MediaStreamTrack>;
  closeMicrophone(): void;
  readonly microphoneOpen: boolean;
  readonly microphoneTrack: MediaStreamTrack | null;
  /** The open microphone device's own track (its getSettings() show AGC/NS/AEC), or null. */
  readonly microphoneDeviceTrack: MediaStreamTrack | null;
  /** The open microphone's device id, or null. */
  readonly microphoneDeviceId: string | null;
  /** Digital volume applied before sending, 0..2. */
  microphoneVolume: number;
  /** Peak (0..1) of the latest frame of what is sent. */
  microphoneLevel(): number;
  /** Peak (0..1) of everything sent: microphone (after volume) + accompaniment. */
  sentLevel(): number;
  openAccompaniment(source: HTMLMediaElement | MediaStreamTrack): Accompaniment;
  closeAccompaniment(): void;
  readonly accompaniment: Accompaniment | null;
  openExternalAudio(opts?: { sampleRate?: number }): Promise<ExternalAudio>;
  closeExternalAudio(): void;

  openCamera(deviceId?: string, opts?: { width?: number; height?: number; frameRate?: number }): Promise<MediaStreamTrack>;
  closeCamera(): void;
  readonly cameraTrack: MediaStreamTrack | null;
  readonly cameraDeviceId: string | null;
  /** Zoom the open camera; `unsupported_feature` when it has no zoom control. Resolves with the zoom applied. */
  setZoom(zoom: number): Promise<number>;
  openExternalVideo(canvas: HTMLCanvasElement, frameRate?: number): MediaStreamTrack;

  play(track: MediaStreamTrack): () => void;
  /** 0..1 */
  speakerVolume: number;
  speakerLevel(): number;
  setSpeaker(deviceId: string): Promise<void>;
  readonly speakerDeviceId: string;
  /** Everything the speaker plays, mixed (after the speaker volume), as one stream. */
  outputStream(): MediaStream;
  close(): void;
}

export declare function captureScreen(
  mode: ScreenModeName,
  opts?: {
    region?: { x: number; y: number; width: number; height: number };
    /** The quality profile's values for this mode (size, frame rate, bitrate), if any. */
    profile?: { width: number; height: number; fps: number; bitrate_kbps: number } | null;
  },
): Promise<{ track: MediaStreamTrack; stop: () => void; mode: ScreenMode }>;

export interface FrameInfo { width: number; height: number; mediaTime: number; frames: number }

export declare class RemoteVideo extends Emitter<{ frame: FrameInfo; [name: string]: unknown }> {
  /** Made by the Client for each receive video slot, not by apps. */
  constructor(mid: string, track: MediaStreamTrack);
  readonly mid: string;
  readonly track: MediaStreamTrack;
  userId: string | null;
  source: "camera" | "screen" | null;
  readonly element: HTMLVideoElement;
  frames: number;
  onFrame(fn: (info: FrameInfo) => void): () => void;
  captureFrame(): ImageData | null;
  frameStream(): ReadableStream<VideoFrame> | null;
  close(): void;
}

export interface PublishOptions {
  track?: MediaStreamTrack;
  /** "VP8" or "H264" */
  codec?: string;
  /** camera: send three simulcast layers (1/4, 1/2 and full size); the SFU forwards each
   * viewer the layer its downlink carries */
  simulcast?: boolean;
  mode?: ScreenModeName;
  region?: { x: number; y: number; width: number; height: number };
  deviceId?: string;
}

/** A login ticket, or an ID token of one of the app's OpenID Connect providers (docs/identity.md). */
export type Credential = string | { idToken: string; appId: string };

/** Watches both media transports; 1.5 s without a packet restarts ICE on one (docs/web-sdk.md). */
export interface PathWatch {
  /** Some transport lost its path and has not received since. */
  readonly reconnecting: boolean;
  /** Completed ICE restarts. */
  readonly iceRestarts: number;
  /** Silence that counts as a lost path (1500 ms). */
  lostAfterMs: number;
}

export declare class Client extends Emitter<ClientEvents> {
  static connect(url: string, ticket: Credential, opts?: { devices?: Devices; requestTimeoutMs?: number }): Promise<Client>;
  static wsUrl(url: string): string;
  /** A client not yet connected (`url` is the signaling URL); Client.connect is the usual way. */
  constructor(url: string, ticket: Credential, opts?: { devices?: Devices; requestTimeoutMs?: number });
  readonly userId: string;
  readonly appId: string;
  readonly devices: Devices;
  /** The pushed quality profile and what was applied of it. */
  readonly quality: QualityApplier;
  /** The media path watch: restarts ICE on a silent transport (`media.reconnecting`). */
  readonly path: PathWatch;
  room: string | number | null;
  kind: "room" | "call" | null;
  /** Recordings running in my room: recording id → mode ("tracks" | "composite"). */
  readonly recordings: Map<string, string>;
  me: MemberState | null;
  audioSlots: number;
  videoSlots: number;
  readonly sendPc: RTCPeerConnection | null;
  readonly recvPc: RTCPeerConnection | null;
  readonly slots: Map<string, { userId: string | null; source: Source | null; kind: string }>;
  /** A short hash of my session's resume token (for logs; never the token). */
  sessionId: string;
  /** Upload the SDK's logs (the installed SdkLogs or `opts.logs`) and recent media stats; the bundle id. */
  uploadLogs(opts?: { logs?: SdkLogs; stats?: Record<string, unknown> }): Promise<string>;

  request<T = any>(type: string, data?: Record<string, unknown>): Promise<T>;
  enter(room: string | number, opts?: { receive?: boolean }): Promise<EnterResult>;
  enterCall(
    room?: string | number,
    opts?: { receive?: boolean; callee?: string; token?: string },
  ): Promise<EnterResult>;
  exit(): Promise<void>;
  members(opts?: { cursor?: string | null; limit?: number }): Promise<{ members: MemberState[]; next_cursor: string | null; total: number }>;
  allMembers(): Promise<MemberState[]>;
  senders(): Promise<MemberState[]>;
  member(userId: string): Promise<MemberState>;
  setPermissions(perms: { audio?: boolean; video?: boolean; screen?: boolean }): Promise<MemberState>;
  /** session.refresh: a new ticket before the current one expires; resolves with its expiry. */
  refresh(ticket: string): Promise<number>;

  /** Invite a member on stage (stage right); grants default to audio + video. */
  inviteToStage(userId: string, grants?: { audio?: boolean; video?: boolean; screen?: boolean }): Promise<StageInvite>;
  acceptInvite(inviteId: string): Promise<MemberState>;
  declineInvite(inviteId: string): Promise<StageInvite>;
  removeFromStage(userId?: string): Promise<MemberState>;
  raiseHand(): Promise<void>;
  lowerHand(userId?: string): Promise<void>;
  hands(): Promise<{ user_id: string; raised_at: number }[]>;
  muteMember(userId: string): Promise<MemberState>;
  stopScreenShare(userId: string): Promise<MemberState>;
  muteAll(): Promise<string[]>;
  lockRoom(locked?: boolean): Promise<boolean>;

  publish(source: Source, opts?: PublishOptions): Promise<{ source: Source; track: MediaStreamTrack }>;
  unpublish(source: Source): Promise<void>;
  mute(source: Source, muted?: boolean): Promise<void>;
  localTrack(source: Source): MediaStreamTrack | null;

  openReceive(): Promise<void>;
  remoteVideo(userId: string, source?: "camera" | "screen"): RemoteVideo | null;
  remoteVideos(): RemoteVideo[];
  /** One member's received audio before mixing, while one of my audio slots carries it. */
  remoteAudio(userId: string): { mid: string; track: MediaStreamTrack } | null;
  requestViews(userIds: string[], source?: "camera" | "screen"): Promise<View[]>;
  cancelViews(userIds?: string[]): Promise<View[]>;
  listenStop(userIds: string[]): Promise<string[]>;
  listenResume(userIds?: string[]): Promise<string[]>;
  stats(): Promise<{ send: RTCStats[]; recv: RTCStats[] }>;
  close(): Promise<void>;
}

export declare function connect(url: string, ticket: Credential, opts?: { devices?: Devices; requestTimeoutMs?: number }): Promise<Client>;

export type LogLevel = "debug" | "info" | "warn" | "error";

/** The Web SDK's log sink and crash reporter (the Python SDK's `ilvb.client.logs.SdkLogs`). */
export declare class SdkLogs {
  constructor(opts?: { level?: LogLevel; maxLines?: number; console?: boolean; storage?: Storage | null });
  level: LogLevel;
  maxLines: number;
  toConsole: boolean;
  /** Where crash reports wait for upload (localStorage by default; null: memory only). */
  storage: Storage | null;
  /** The newest lines (JSON, redacted). */
  lines: string[];
  /** Make this the SDK's sink; catches `error` / `unhandledrejection` unless `crashReports: false`. */
  install(opts?: { crashReports?: boolean }): this;
  close(): void;
  setLevel(level: LogLevel): void;
  /** Ids put on every line (`app_id`, `room`, `user_id`, `session_id`); null clears one. */
  context(ids: Record<string, string | number | null | undefined>): void;
  contextFrom(client: Client): void;
  /** Keep a crash report now (redacted error, the last 200 lines, environment). */
  writeCrash(error: unknown, where?: string): void;
  pendingCrashes(): Record<string, unknown>[];
  bundle(stats?: Record<string, unknown>): any;
  /** `POST /client-logs` with the client's login ticket; the bundle id. */
  upload(client: Client, stats?: Record<string, unknown>): Promise<string>;
  /** Upload the waiting crash reports (removed once accepted); their ids. */
  uploadPending(client: Client): Promise<string[]>;
}

/** `text` with tickets, keys, tokens, secrets and ICE passwords replaced by `***`. */
export declare function redact(text: string): string;
/** The runtime the SDK runs in (user agent, language, cores), nothing personal. */
export declare function environment(): { sdk: string; userAgent: string; language: string; hardwareConcurrency: number };

/** A video track's frames through `hook` before encoding (MediaStreamTrackProcessor / Generator). */
export declare class ProcessedVideo {
  /** Fails with `unsupported_feature` where the browser lacks MediaStreamTrackProcessor / Generator. */
  constructor(source: MediaStreamTrack, hook: (frame: VideoFrame) => VideoFrame | Promise<VideoFrame>);
  readonly source: MediaStreamTrack;
  hook: (frame: VideoFrame) => VideoFrame | Promise<VideoFrame>;
  /** A hook's error (that frame is sent unprocessed); default: logged as an error (a crash report). */
  onError: (e: unknown) => void;
  /** The processed track: preview it, publish it. */
  readonly track: MediaStreamTrack;
  /** Frames processed so far. */
  frames: number;
  stop(): void;
}
