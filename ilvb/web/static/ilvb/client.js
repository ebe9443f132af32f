// `Client`: the Web SDK's entry point (ilvb.client.client in the Python SDK).

import { Signaling } from "./connection.js";
import { Devices } from "./devices.js";
import { IlvbError } from "./errors.js";
import { Emitter } from "./events.js";
import { installedLogs, log } from "./logs.js";
import { QualityApplier, profileCodec } from "./quality.js";
import { ReceiveTransport } from "./receive.js";
import { PathWatch } from "./reconnect.js";
import { captureScreen } from "./screen.js";
import { SendTransport } from "./send.js";

/** @typedef {import("../ilvb.js").Source} Source */
/** @typedef {import("../ilvb.js").MemberState} MemberState */
/** @typedef {import("../ilvb.js").EnterResult} EnterResult */
/** @typedef {import("../ilvb.js").PublishOptions} PublishOptions */
/** @typedef {import("../ilvb.js").View} View */
/** @typedef {import("../ilvb.js").StageInvite} StageInvite */
/** @typedef {import("./logs.js").SdkLogs} SdkLogs */
/** @typedef {import("../ilvb.js").Devices} DeviceManager the declared Devices (an app may pass its own) */
/** @typedef {{devices?: DeviceManager, requestTimeoutMs?: number}} ClientOptions */

/** @type {readonly Source[]} */
const SOURCES = ["microphone", "camera", "screen"];
/** Events logged at info level (the rest at debug). */
const LOGGED_EVENTS = ["room.exited", "connection.lost", "connection.resumed", "connection.closed",
  "transport.closed", "transport.restored", "quality.changed", "control.muted", "stage.removed"];

/**
 * A short id for a session, from its (secret) resume token: sha256, 12 hex digits, as the
 * Python SDK's (never the token itself). @param {string} token @returns {Promise<string>}
 */
async function sessionHash(token) {
  if (!token || !globalThis.crypto?.subtle) return "";
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 12);
}

/**
 * A connected ilvb client: room and call membership, members, media, devices.
 *
 * Events (`client.on(name, fn)`): the server events of docs/protocol.md (`room.entered`,
 * `room.exited`, `members.entered`, `members.exited`, `member.state`, `call.ended`, `slot`,
 * `permissions.changed`, `transport.closed`, and the stage's `stage.invited`, `stage.accepted`,
 * `stage.declined`, `stage.expired`, `stage.cancelled`, `stage.removed`, `hand.raised`,
 * `hand.lowered`, `control.muted`, `control.screen_stopped`, `room.locked`, `live.started`,
 * `live.stopped`, and `recording.started` / `recording.stopped`, also kept in
 * `client.recordings`) with their `data`;
 * taken off stage or with its screen share stopped, the client stops those tracks itself (an
 * `unpublished` event with reason "server" follows); and client events:
 * `video.added` / `video.removed` ({userId, source, video: RemoteVideo}), `audio.slot`
 * ({mid, userId}), `unpublished` ({source, reason: "server"}: a permission revoke stopped one
 * of my sources), `quality.applied` (QualityReport: the pushed profile was applied and reported), `transport.restored`,
 * `media.reconnecting` / `media.reconnected` (reconnect.js: a silent transport, ICE restarted
 * in the room), `connection.lost`, `connection.resumed`,
 * `connection.closed`, `error` (IlvbError of a background step, e.g. receive negotiation).
 */
export class Client extends Emitter {
  /**
   * Connect to an ilvb server with a login ticket, or `{idToken, appId}`: an ID token of one of
   * the app's OpenID Connect providers (docs/identity.md).
   * @param {string} url  e.g. "ws://127.0.0.1:7880/ws" (or the http(s) origin; /ws is added)
   * @param {import("./connection.js").Credential} ticket
   * @param {ClientOptions} [opts]
   * @returns {Promise<Client>}
   */
  static async connect(url, ticket, opts = {}) {
    const client = new Client(Client.wsUrl(url), ticket, opts);
    await client._signaling.open();
    client.sessionId = await sessionHash(client._signaling.session);
    log.info("connected", { url: client._signaling.url, app_id: client.appId, user_id: client.userId });
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

  /** @param {string} url @param {import("./connection.js").Credential} ticket @param {ClientOptions} opts */
  constructor(url, ticket, opts = {}) {
    super();
    this._signaling = new Signaling(url, ticket, opts);
    this._signaling.on("event", (/** @type {{name: string, data: any}} */ { name, data }) =>
      this._onEvent(name, data));
    /** The device manager (shared with the app). @type {DeviceManager} */
    this.devices = opts.devices || new Devices();
    this._ownsDevices = !opts.devices;
    /** @type {string | number | null} */
    this.room = null;
    /** @type {"room" | "call" | null} */
    this.kind = null;
    /** Recordings running in my room: recording id → mode (`recording.started` / `.stopped`). @type {Map<string, string>} */
    this.recordings = new Map();
    /** My MemberState after entering. @type {MemberState | null} */
    this.me = null;
    /** A short hash of my session's resume token (for logs; never the token). */
    this.sessionId = "";
    this.audioSlots = 0;
    this.videoSlots = 0;
    const request = this.request.bind(this);
    const emit = this.emit.bind(this);
    this._send = new SendTransport(request, emit, () => this.devices.cameraTrack);
    this._recv = new ReceiveTransport(request, emit, (track) => this.devices.play(track));
    /** Restarts ICE when a transport goes silent (`media.reconnecting` / `media.reconnected`). */
    this.path = new PathWatch({ send: this._send, recv: this._recv }, emit);
    /** The pushed quality profile and what was applied of it (`quality.current`, `quality.lastReport`). */
    this.quality = new QualityApplier(request, {
      sender: (source) => this._send.sender(source),
      micDeviceTrack: () => this.devices.microphoneDeviceTrack,
      reopenMic: (flags) => this.devices.openMicrophone(this.devices.microphoneDeviceId || undefined, flags),
      setOpus: (opus) => this._send.setOpus(opus),
      screenMode: () => this._send.screenMode(),
    }, emit);
    this._onDeviceTrack = this.devices.on("track",
      (/** @type {{source: Source, track: MediaStreamTrack | null}} */ e) => this._send.replaceTrack(e.source, e.track));
  }

  /** My user id (from the ticket). */
  get userId() {
    return this._signaling.userId;
  }

  /** The app id the ticket belongs to. */
  get appId() {
    return this._signaling.appId;
  }

  /** The send transport's peer connection (null until something is published). */
  get sendPc() {
    return this._send.pc;
  }

  /** The receive transport's peer connection (null outside a room or with `receive: false`). */
  get recvPc() {
    return this._recv.pc;
  }

  /** Receive slots by mid: which member's source each carries now. */
  get slots() {
    return this._recv.slots;
  }

  /**
   * Send a raw request (for anything not wrapped below).
   * @param {string} type @param {Record<string, unknown>} [data] @returns {Promise<any>}
   */
  request(type, data) {
    log.debug("request", { type });
    return this._signaling.request(type, data).catch((/** @type {any} */ e) => {
      log.warn("request failed", { type, code: e?.code, message: e?.message });
      throw e;
    });
  }

  /**
   * Upload a bundle of the SDK's logs (the installed SdkLogs, or `opts.logs`) with recent media
   * stats to the server (`POST /client-logs`, my login ticket); resolves with the bundle's id.
   * @param {{logs?: SdkLogs, stats?: Record<string, unknown>}} [opts] @returns {Promise<string>}
   */
  async uploadLogs(opts = {}) {
    const logs = opts.logs ?? installedLogs();
    if (!logs) throw new IlvbError("invalid_state", "no SdkLogs installed: new SdkLogs().install()");
    return logs.upload(this, opts.stats ?? (await this._statsSummary()));
  }

  /** A small JSON summary of both transports' getStats (inbound / outbound RTP and candidate pairs). */
  async _statsSummary() {
    /** @type {Record<string, unknown>} */
    const out = {};
    /** @type {[string, RTCPeerConnection | null][]} */
    const pcs = [["send", this.sendPc], ["recv", this.recvPc]];
    for (const [name, pc] of pcs) {
      if (!pc) continue;
      /** @type {Record<string, unknown>[]} */
      const rows = [];
      (await pc.getStats()).forEach((/** @type {any} */ r) => {
        if (["inbound-rtp", "outbound-rtp", "candidate-pair"].includes(r.type)) rows.push(r);
      });
      out[name] = rows;
    }
    return out;
  }

  /**
   * POST a log bundle or crash report with my login ticket; the stored bundle's id.
   * @param {Record<string, unknown>} body @returns {Promise<string>}
   */
  async _postLogs(body) {
    const cred = this._signaling._ticket;
    if (typeof cred !== "string") {
      throw new IlvbError("invalid_state", "log upload needs a login ticket (not an ID token)");
    }
    const base = this._signaling.url.replace(/^ws/, "http").replace(/\/ws$/, "");
    const res = await fetch(`${base}/client-logs`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${cred}` },
      body: JSON.stringify(body),
    });
    const reply = await res.json().catch(() => ({}));
    if (res.status !== 201) throw IlvbError.fromWire(reply.error || { code: "unavailable", message: `HTTP ${res.status}` });
    return String(reply.id);
  }

  /** @param {string} name @param {any} data */
  _onEvent(name, data) {
    if (LOGGED_EVENTS.includes(name)) log.info("event", { name, data });
    else log.debug("event", { name });
    if (name === "members.state") {
      // Batched member.state (large rooms): one event per member, as if unbatched.
      for (const m of data.members || []) this._onEvent("member.state", m);
      return;
    }
    if (name === "slot") this._recv.onSlot(data);
    if (name === "room.exited") this._leftRoom();
    if (name === "member.state" && data.user_id === this.userId) {
      this.me = data;
      this._send.dropRevoked(data);
    }
    if (name === "room.entered") this.me = data.me;
    if (name === "quality.changed") this.quality.set(data);
    if (name === "control.muted") {
      // A host muted me: the server stops forwarding; stop capturing sound too, as mute() does.
      const track = this.localTrack(data.source);
      if (track) track.enabled = false;
    }
    if (name === "recording.started") this.recordings.set(data.recording_id, data.mode);
    if (name === "recording.stopped") this.recordings.delete(data.recording_id);
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
   * @param {string|number} room @param {{receive?: boolean}} [opts] @returns {Promise<EnterResult>}
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
   * @returns {Promise<EnterResult>}
   */
  async enterCall(room = 0, opts = {}) {
    return this._enter(room, "call", opts);
  }

  /**
   * @param {string|number} room @param {"room" | "call"} kind
   * @param {{receive?: boolean, callee?: string, token?: string}} opts
   * @returns {Promise<EnterResult>}
   */
  async _enter(room, kind, opts) {
    /** @type {Record<string, unknown>} */
    const req = { room, kind };
    if (opts.callee !== undefined) req.callee = opts.callee;
    if (opts.token !== undefined) req.token = opts.token;
    /** @type {EnterResult} */
    const data = await this.request("room.enter", req);
    this.room = data.room;
    this.kind = data.kind || kind;
    log.info("entered", { room: data.room, kind: this.kind });
    this.me = data.me;
    this.audioSlots = data.audio_slots;
    this.videoSlots = data.video_slots;
    if (data.quality) this.quality.set(data.quality);
    this.path.start();
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
    this.recordings.clear();
    this._closeMedia();
  }

  /**
   * One page of members, in entry order.
   * @param {{cursor?: string|null, limit?: number}} [opts]
   * @returns {Promise<{members: MemberState[], next_cursor: string|null, total: number}>}
   */
  async members(opts = {}) {
    /** @type {Record<string, unknown>} */
    const data = {};
    if (opts.cursor != null) data.cursor = opts.cursor;
    if (opts.limit != null) data.limit = opts.limit;
    return this.request("room.members", data);
  }

  /** Every member, paging through the whole room. @returns {Promise<MemberState[]>} */
  async allMembers() {
    /** @type {MemberState[]} */
    const out = [];
    /** @type {string | null} */
    let cursor = null;
    do {
      const page = await this.members({ cursor, limit: 500 });
      out.push(...page.members);
      cursor = page.next_cursor;
    } while (cursor);
    return out;
  }

  /** Members sending audio, video or screen. @returns {Promise<MemberState[]>} */
  async senders() {
    return (await this.request("room.senders", {})).members;
  }

  /** One member's state. @param {string} userId @returns {Promise<MemberState>} */
  async member(userId) {
    return this.request("member.get", { user_id: userId });
  }

  /**
   * Change my permissions (within the ticket's ceiling). Returns my MemberState.
   * @param {{audio?: boolean, video?: boolean, screen?: boolean}} perms @returns {Promise<MemberState>}
   */
  async setPermissions(perms) {
    const me = await this.request("permissions.set", perms);
    this.me = me;
    return me;
  }

  /**
   * Hand the session a new ticket before the current one expires (`session.refresh`); later
   * reconnects use it too. Resolves with its expiry (seconds since the epoch).
   * @param {string} ticket @returns {Promise<number>}
   */
  async refresh(ticket) {
    return this._signaling.refresh(ticket);
  }

  // --- stage and host controls ---------------------------------------------------------------

  /**
   * Invite a member on stage (needs the stage right); `grants` default to audio + video.
   * @param {string} userId @param {{audio?: boolean, video?: boolean, screen?: boolean}} [grants]
   * @returns {Promise<StageInvite>}
   */
  async inviteToStage(userId, grants) {
    const data = grants ? { user_id: userId, permissions: grants } : { user_id: userId };
    return (await this.request("stage.invite", data)).invite;
  }

  /**
   * Accept an invitation (from `stage.invited`); returns my MemberState, now on stage.
   * @param {string} inviteId @returns {Promise<MemberState>}
   */
  async acceptInvite(inviteId) {
    const reply = await this.request("stage.accept", { invite_id: inviteId });
    this.me = reply.me;
    return reply.me;
  }

  /** Decline an invitation. @param {string} inviteId @returns {Promise<StageInvite>} */
  async declineInvite(inviteId) {
    return (await this.request("stage.decline", { invite_id: inviteId })).invite;
  }

  /**
   * Take a member (default: myself) off stage; its sources stop.
   * @param {string} [userId] @returns {Promise<MemberState>}
   */
  async removeFromStage(userId) {
    return this.request("stage.remove", { user_id: userId ?? this.userId });
  }

  /** Ask to speak (hosts get `hand.raised`). @returns {Promise<void>} */
  async raiseHand() {
    await this.request("hand.raise", {});
  }

  /** Lower my hand, or (stage right) another member's. @param {string} [userId] */
  async lowerHand(userId) {
    await this.request("hand.lower", userId ? { user_id: userId } : {});
  }

  /** Raised hands, oldest first (stage right). @returns {Promise<{user_id: string, raised_at: number}[]>} */
  async hands() {
    return (await this.request("hand.list", {})).hands;
  }

  /** Mute a member's microphone (stage right). @param {string} userId @returns {Promise<MemberState>} */
  async muteMember(userId) {
    return this.request("member.mute", { user_id: userId });
  }

  /** Stop a member's screen share (stage right). @param {string} userId @returns {Promise<MemberState>} */
  async stopScreenShare(userId) {
    return this.request("member.stop_screen", { user_id: userId });
  }

  /** Mute every microphone but mine (stage right); the muted user ids. @returns {Promise<string[]>} */
  async muteAll() {
    return (await this.request("room.mute_all", {})).muted;
  }

  /** Lock (no new entries) or unlock the room (stage right). @param {boolean} [locked] @returns {Promise<boolean>} */
  async lockRoom(locked = true) {
    return (await this.request("room.lock", { locked: !!locked })).locked;
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
   * @param {Source} source @param {PublishOptions} [opts]
   * @returns {Promise<{source: Source, track: MediaStreamTrack}>}
   */
  async publish(source, opts = {}) {
    if (!SOURCES.includes(source)) throw new IlvbError("invalid_argument", `unknown source ${source}`);
    if (!this.room) throw new IlvbError("not_in_room", "enter a room first");
    if (this._send.track(source)) {
      throw new IlvbError("invalid_state", `${source} is already published`);
    }
    await this.request("media.publish", { source });
    /** @type {MediaStreamTrack} */
    let track;
    let screen = null;
    try {
      if (opts.track) track = opts.track;
      else if (source === "microphone") {
        track = this.devices.microphoneTrack || await this.devices.openMicrophone(opts.deviceId);
      } else if (source === "camera") {
        track = this.devices.cameraTrack || await this.devices.openCamera(opts.deviceId);
      } else {
        // The mode's size, frame rate and bitrate come from the quality profile when there is one.
        const mode = opts.mode || "clear";
        screen = await captureScreen(mode, { region: opts.region,
          profile: this.quality.current?.profile.screen?.[mode] });
        track = screen.track;
      }
      // The quality profile's codec, unless the app forces one (a later change of it applies
      // at the next publish: it needs a new m-line).
      const codec = source === "camera" && !opts.codec ? profileCodec(this.quality.current) : null;
      await this._send.add(source, track, codec ? { ...opts, codec } : opts, screen?.mode);
    } catch (e) {
      screen?.stop();
      await this.request("media.unpublish", { source }).catch(() => {});
      throw e;
    }
    log.info("published", { source, track: track.label });
    if (screen) {
      this._send.setScreen(screen);
      track.addEventListener("ended", () => { this.unpublish("screen").catch(() => {}); });
    }
    await this.quality.reapply();
    return { source, track };
  }

  /** The track currently sent for a source, or null. @param {Source} source */
  localTrack(source) {
    return this._send.track(source);
  }

  /** Stop sending a source. @param {Source} source */
  async unpublish(source) {
    await this._send.stop(source);
    await this.request("media.unpublish", { source });
  }

  /**
   * Mute or unmute a source I send (others see it in `member.state`).
   * @param {Source} source @param {boolean} [muted]
   */
  async mute(source, muted = true) {
    if (!SOURCES.includes(source)) throw new IlvbError("invalid_argument", `unknown source ${source}`);
    await this.request("media.mute", { source, muted: !!muted });
    const track = this.localTrack(source);
    if (track) track.enabled = !muted;
  }

  /**
   * The server lost my send and/or receive transport, or restarted its media
   * (`transport.closed`): ask again for the sources I was sending and build new transports.
   * Emits `transport.restored` when done.
   * @param {{transport: "send" | "recv" | "both"}} data
   */
  async _transportClosed(data) {
    if (!this.room) return;
    const which = data.transport;
    if ((which === "send" || which === "both") && this._send.pc) await this._send.rebuild(this.me);
    if ((which === "recv" || which === "both") && this._recv.pc) await this._recv.rebuild();
    this.emit("transport.restored", { transport: which });
  }

  // --- receiving -------------------------------------------------------------------------------

  /** Open the receive transport (done by `enter` unless `receive: false`). Idempotent. */
  async openReceive() {
    return this._recv.open();
  }

  /**
   * The RemoteVideo currently showing a member's source, or null.
   * @param {string} userId @param {"camera"|"screen"} [source]
   */
  remoteVideo(userId, source = "camera") {
    return this._recv.video(userId, source);
  }

  /**
   * The received audio of one member before mixing (the slot's track), or null when none of
   * my audio slots carries that member now. @param {string} userId
   */
  remoteAudio(userId) {
    return this._recv.audio(userId);
  }

  /** Every RemoteVideo slot (bound or not). */
  remoteVideos() {
    return this._recv.videos();
  }

  /**
   * Ask for members' video (≤ 4 views; 3 while I send video). Returns the current views.
   * @param {string[]} userIds @param {"camera"|"screen"} [source] @returns {Promise<View[]>}
   */
  async requestViews(userIds, source = "camera") {
    return (await this.request("view.request", { user_ids: userIds, source })).views;
  }

  /** Cancel views of some members (or all when omitted). @param {string[]} [userIds] @returns {Promise<View[]>} */
  async cancelViews(userIds) {
    const data = userIds ? { user_ids: userIds } : {};
    return (await this.request("view.cancel", data)).views;
  }

  /** Stop listening to some members' audio (only for me). @param {string[]} userIds @returns {Promise<string[]>} */
  async listenStop(userIds) {
    return (await this.request("listen.stop", { user_ids: userIds })).not_listening;
  }

  /** Listen again to some members (or everyone when omitted). @param {string[]} [userIds] @returns {Promise<string[]>} */
  async listenResume(userIds) {
    const data = userIds ? { user_ids: userIds } : {};
    return (await this.request("listen.resume", data)).not_listening;
  }

  /** getStats() of both transports: {send, recv} as arrays of report objects. */
  async stats() {
    /** @param {RTCPeerConnection | null} pc @returns {Promise<RTCStats[]>} */
    const dump = async (pc) => (pc ? [...(await pc.getStats()).values()] : []);
    return { send: await dump(this.sendPc), recv: await dump(this.recvPc) };
  }

  _closeMedia() {
    this.path.stop();
    this._recv.close();
    this._send.close();
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
 * @param {string} url @param {import("./connection.js").Credential} ticket @param {ClientOptions} [opts]
 */
export function connect(url, ticket, opts) {
  return Client.connect(url, ticket, opts);
}
