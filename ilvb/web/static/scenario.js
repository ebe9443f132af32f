// The scenario pages, /class (an online class) and /live (a host live stream with co-hosts): one
// page (scenario.html) and this module, configured by the path it is served at.
//
// The host (teacher / host) publishes (a screen share in clear mode and the microphone in a
// class; camera and microphone in a live stream), sees the raised hands, invites members on stage,
// takes them off, mutes them, mutes everyone and locks the room. A guest (student / viewer)
// watches and listens, raises a hand, accepts or declines an invitation and then speaks (and
// shows its camera in a live stream), and can leave the stage. Tickets come from the demo app
// (POST /demo/ticket): guests enter as `audience` with audio and video as what an invitation may
// grant. URL parameters prefill the form: ?user=ann&room=math&role=student&autojoin=1
import { Client, Devices, IlvbError } from "./ilvb.js";
import { ViewGrid } from "./views.js";

/** @typedef {import("./ilvb.js").MemberState} MemberState */
/** @typedef {import("./ilvb.js").StageInvite} StageInvite */
/** @typedef {"microphone" | "camera" | "screen"} Source */

/**
 * @typedef {object} Scenario
 * @property {string} title
 * @property {string} hostRole the ticket role with the stage right
 * @property {Record<string, string>} roles page role -> its label
 * @property {Source[]} hostSources what the host publishes on entry
 * @property {{audio: boolean, video: boolean}} grants what an invitation grants
 */

/** @type {Record<string, Scenario>} */
const SCENARIOS = {
  class: {
    title: "online class",
    hostRole: "teacher",
    roles: { teacher: "teacher", student: "student" },
    hostSources: ["screen", "microphone"],
    grants: { audio: true, video: false },
  },
  live: {
    title: "host live stream",
    hostRole: "host",
    roles: { host: "host", viewer: "viewer" },
    hostSources: ["camera", "microphone"],
    grants: { audio: true, video: true },
  },
};

/** @type {(id: string) => any} an element by id */
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const scenario = location.pathname.startsWith("/live") ? SCENARIOS.live : SCENARIOS.class;
const devices = new Devices();
/** @type {Map<string, MemberState>} */
const members = new Map();
const views = new ViewGrid($("stage"), members, { max: 4, onError: (e) => showError(e) });
/** @type {Client | null} */
let client = null;
let isHost = false;
/** @type {StageInvite | null} the invitation shown to me (guests) */
let invite = null;
/** My login ticket: the demo app's server (/demo/…) takes it for the host's live and recording. */
let ticket = "";
/** @type {string | null} the recording running, if I started one */
let recordingId = null;

// Exposed for tests and for poking around in the console.
/** @type {any} */ (window).scenario = {
  members, errors: [], get client() { return client; }, get ticket() { return ticket; },
};

/** @param {unknown} err */
function showError(err) {
  const e = err instanceof IlvbError ? err
    : new IlvbError("internal_error", String(/** @type {any} */ (err)?.message || err));
  /** @type {any} */ (window).scenario.errors.push({ code: e.code, message: e.message });
  const box = $("error");
  box.textContent = `${e.message} (${e.code})`;
  box.dataset.code = e.code;
  box.hidden = false;
}

/** @param {string} text */
function setStatus(text) {
  $("status").textContent = text;
}

/**
 * A button's action; typed errors go to the error box.
 * @param {() => Promise<unknown>} fn @returns {() => Promise<void>}
 */
function guarded(fn) {
  return async () => {
    $("error").hidden = true;
    try { await fn(); } catch (e) { showError(e); }
  };
}

function joined() {
  if (!client) throw new IlvbError("not_in_room", "join a room first");
  return client;
}

// --- join ----------------------------------------------------------------------------------------

async function join() {
  const user = $("user").value.trim();
  const room = $("room").value.trim();
  const role = $("role").value;
  isHost = role === Object.keys(scenario.roles)[0];
  $("join-btn").disabled = true;
  try {
    const res = await fetch("/demo/ticket", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(isHost
        ? { user, room, role: scenario.hostRole }
        : { user, room, role: "audience", audio: true, video: true }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw IlvbError.fromWire(body.error || body.detail || body);
    ticket = body.ticket;
    client = await Client.connect(location.origin, ticket, { devices });
    wire(client);
    views.attach(client);
    await client.enter(room);
    for (const m of await client.allMembers()) members.set(m.user_id, m);
  } catch (e) {
    showError(e);
    await client?.close();
    client = null;
    $("join-btn").disabled = false;
    return;
  }
  $("join").hidden = true;
  $("room-view").hidden = false;
  $("room-name").textContent = `${room} · ${scenario.roles[role]}`;
  document.body.dataset.role = isHost ? "host" : "guest";
  if (isHost) for (const source of scenario.hostSources) await guarded(() => publish(source))();
  render();
  views.sync();
  setStatus(`in ${room} as ${client.userId}`);
  document.body.dataset.state = "joined";
}

/** @param {Source} source */
async function publish(source) {
  const c = joined();
  if (c.localTrack(source)) return;
  const opts = source === "screen" ? { mode: /** @type {const} */ ("clear") } : {};
  const { track } = await c.publish(source, opts);
  if (source !== "microphone") $("preview").srcObject = new MediaStream([track]);
}

/** @param {Client} c */
function wire(c) {
  c.on("members.entered", ({ members: list }) => { for (const m of list) members.set(m.user_id, m); changed(); });
  c.on("members.exited", ({ user_ids }) => { for (const id of user_ids) members.delete(id); changed(); });
  c.on("member.state", (m) => { members.set(m.user_id, m); changed(); });
  c.on("video.added", () => views.render());
  c.on("video.removed", () => views.render());
  c.on("stage.invited", (inv) => {
    if (inv.user_id !== c.userId) return;
    invite = inv;
    render();
  });
  /** @param {StageInvite} inv */
  const ended = (inv) => {
    if (invite?.invite_id === inv.invite_id) invite = null;
    render();
  };
  c.on("stage.expired", ended);
  c.on("stage.cancelled", ended);
  c.on("stage.declined", (inv) => setStatus(`${inv.user_id} declined the invitation`));
  c.on("stage.removed", ({ user_id }) => {
    if (user_id === c.userId) { $("preview").srcObject = null; setStatus("you are off stage"); }
  });
  c.on("control.muted", () => setStatus("a host muted your microphone"));
  c.on("room.locked", ({ locked }) => { $("lock-btn").textContent = locked ? "Unlock room" : "Lock room"; });
  c.on("room.exited", ({ reason }) => setStatus(`left the room (${reason})`));
  c.on("error", showError);
}

function changed() {
  render();
  views.sync();
}

// --- rendering -----------------------------------------------------------------------------------

/** @param {string} text @param {() => Promise<unknown>} fn @param {string} action */
function actionButton(text, fn, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.dataset.action = action;
  b.onclick = guarded(fn);
  return b;
}

function render() {
  const c = client;
  if (!c) return;
  const me = members.get(c.userId);
  const ul = $("members");
  const raised = [...members.values()].filter((m) => m.hand_raised).length;
  $("hand-count").textContent = raised ? `· ${raised} ✋` : "";
  ul.replaceChildren(...[...members.values()].map((m) => {
    const li = document.createElement("li");
    li.dataset.user = m.user_id;
    li.dataset.hand = String(!!m.hand_raised);
    li.dataset.stage = String(!!m.on_stage);
    li.dataset.audio = m.sending.audio ? (m.muted.audio ? "muted" : "sending") : "off";
    const name = document.createElement("span");
    name.textContent = `${m.hand_raised ? "✋ " : ""}${m.user_id}${m.on_stage ? " (on stage)" : ""}`;
    li.append(name);
    if (isHost && m.user_id !== c.userId) {
      const acts = document.createElement("span");
      acts.className = "actions";
      if (m.on_stage) acts.append(actionButton("Off stage", () => c.removeFromStage(m.user_id), "remove"));
      else if (m.role === "audience") {
        acts.append(actionButton("Invite", () => c.inviteToStage(m.user_id, scenario.grants), "invite"));
      }
      if (m.sending.audio && !m.muted.audio) acts.append(actionButton("Mute", () => c.muteMember(m.user_id), "mute"));
      li.append(acts);
    }
    return li;
  }));
  $("member-count").textContent = `(${members.size})`;
  $("host-controls").hidden = !isHost;
  $("broadcast-controls").hidden = !isHost;
  $("guest-controls").hidden = isHost;
  $("hand-btn").textContent = me?.hand_raised ? "Lower hand" : "Raise hand";
  $("hand-btn").hidden = !!me?.on_stage;
  $("leave-stage-btn").hidden = !me?.on_stage;
  $("invite").hidden = !invite;
  if (invite) {
    const what = Object.entries(invite.permissions).filter(([, v]) => v).map(([k]) => k).join(" + ");
    $("invite-text").textContent = `${invite.by || "the app"} invites you on stage (${what})`;
  }
}

// --- controls ------------------------------------------------------------------------------------

$("hand-btn").onclick = guarded(async () => {
  const c = joined();
  if (members.get(c.userId)?.hand_raised) await c.lowerHand();
  else await c.raiseHand();
});
$("accept-btn").onclick = guarded(async () => {
  const c = joined();
  const inv = invite;
  if (!inv) return;
  invite = null;
  render();
  const me = await c.acceptInvite(inv.invite_id);
  members.set(me.user_id, me);
  if (inv.permissions.audio) await publish("microphone");
  if (inv.permissions.video) await publish("camera");
  render();
});
$("decline-btn").onclick = guarded(async () => {
  const inv = invite;
  invite = null;
  render();
  if (inv) await joined().declineInvite(inv.invite_id);
});
$("leave-stage-btn").onclick = guarded(async () => { await joined().removeFromStage(); });
$("mute-all-btn").onclick = guarded(async () => {
  const muted = await joined().muteAll();
  setStatus(`muted ${muted.length} microphone(s)`);
});
$("lock-btn").onclick = guarded(async () => {
  const locked = await joined().lockRoom($("lock-btn").textContent === "Lock room");
  $("lock-btn").textContent = locked ? "Unlock room" : "Lock room";
});
/**
 * Call the demo app's server (it checks my ticket's role, then calls ilvb's REST for the app).
 * @param {string} method @param {string} path @param {unknown} [body] @returns {Promise<any>}
 */
async function appServer(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${ticket}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const reply = await res.json().catch(() => ({}));
  if (!res.ok) throw IlvbError.fromWire(reply.error || { code: "internal_error", message: `HTTP ${res.status}` });
  return reply;
}

const roomPath = () => `/demo/rooms/${encodeURIComponent(String(joined().room))}`;

$("live-btn").onclick = guarded(async () => {
  if ($("live-btn").textContent.startsWith("Start")) {
    $("live-btn").disabled = true;
    try {
      const live = await appServer("POST", `${roomPath()}/live`, { hls: true });
      $("hls-link").href = live.hls_url;
      $("hls-link").textContent = live.hls_url;
      $("hls").hidden = false;
      $("live-btn").textContent = "Stop bypass live";
    } finally { $("live-btn").disabled = false; }
  } else {
    await appServer("DELETE", `${roomPath()}/live`);
    $("hls").hidden = true;
    $("live-btn").textContent = "Start bypass live";
  }
});

$("record-btn").onclick = guarded(async () => {
  $("record-btn").disabled = true;
  try {
    if (!recordingId) {
      recordingId = (await appServer("POST", `${roomPath()}/recordings`, { mode: "composite" })).recording_id;
      $("record-btn").textContent = "Stop recording";
    } else {
      const id = recordingId;
      recordingId = null;
      await appServer("POST", `/demo/recordings/${encodeURIComponent(id)}/stop`);
      $("record-btn").textContent = "Record";
      const rec = await appServer("GET", `/demo/recordings/${encodeURIComponent(id)}`);
      const file = (rec.files || [])[0];
      if (file) {
        $("replay-link").href = `/replay?recording=${encodeURIComponent(id)}&room=${encodeURIComponent(String(rec.room))}`;
        $("replay-link").textContent = `${file.name} (${Math.round(file.duration_s || 0)} s)`;
        $("replay").hidden = false;
      }
    }
  } finally { $("record-btn").disabled = false; }
});

$("leave-btn").onclick = guarded(async () => {
  await client?.close();
  client = null;
  members.clear();
  views.attach(null);
  $("room-view").hidden = true;
  $("join").hidden = false;
  $("join-btn").disabled = false;
  document.body.dataset.state = "left";
});
$("join").onsubmit = (/** @type {Event} */ ev) => { ev.preventDefault(); join(); };

// --- start ---------------------------------------------------------------------------------------

$("title").textContent = scenario.title;
document.title = `ilvb ${scenario.title}`;
$("role").replaceChildren(...Object.entries(scenario.roles).map(([v, label]) => new Option(label, v)));
if (params.get("user")) $("user").value = params.get("user");
if (params.get("room")) $("room").value = params.get("room");
const wantedRole = params.get("role");
if (wantedRole && wantedRole in scenario.roles) $("role").value = wantedRole;
if (params.get("autojoin") === "1") join();
