// The ilvb demo page: join a room with a demo ticket, publish microphone/camera/screen, see up
// to 4 remote views, the member list with live sending state, level meters and device pickers.
// URL parameters prefill the form: ?user=alice&room=demo&mic=1&cam=1&autojoin=1
import { Client, Devices, IlvbError, SCREEN_MODES } from "./ilvb.js";
import { ViewGrid } from "./views.js";

/** @type {(id: string) => any} an element by id (form controls, media elements) */
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const devices = new Devices();
/** @type {Client | null} */
let client = null;
/** @typedef {import("./ilvb.js").MemberState} MemberState */
/** @type {Map<string, MemberState>} user_id -> MemberState */
const members = new Map();
/** @type {Map<string, number>} user_id -> time (ms) the page last saw that member's state change */
const changedAt = new Map();
const MAX_VIEWS = 4;
const views = new ViewGrid($("grid"), members, { max: MAX_VIEWS, onError: (e) => showError(e) });

// Exposed for tests and for poking around in the console.
/** @type {any} */ (window).demo = { devices, members, changedAt, get client() { return client; }, errors: [] };

/** @type {Record<string, string>} */
const MESSAGES = {
  video_sender_limit: "Video limit reached: 4 members already send video in this room.",
  audio_sender_limit: "Audio limit reached: 6 members already send audio in this room.",
  view_limit: "You already watch the maximum number of videos.",
  permission_denied: "No permission: you are not allowed to do that.",
  device_unavailable: "The device is not available.",
  ticket_expired: "Your ticket expired; join again.",
  ticket_malformed: "That is not a login ticket.",
  ticket_bad_signature: "The ticket's signature does not verify.",
  ticket_wrong_app: "The ticket names an unknown app.",
  ticket_wrong_room: "The ticket is for another room.",
  media_unavailable: "Media is not available on this server.",
};

/** @param {any} err */
function showError(err) {
  const e = err instanceof IlvbError ? err : new IlvbError("internal_error", String(err?.message || err));
  const text = `${MESSAGES[e.code] || e.message} (${e.code})`;
  /** @type {any} */ (window).demo.errors.push({ code: e.code, message: e.message });
  const box = $("error");
  box.textContent = text;
  box.dataset.code = e.code;
  box.hidden = false;
  console.warn("ilvb demo:", e.code, e.message);
}

/** The client of the room the page is in (the room controls exist only then). */
function joined() {
  if (!client) throw new IlvbError("not_in_room", "join a room first");
  return client;
}

function clearError() {
  $("error").hidden = true;
  delete $("error").dataset.code;
}

/** @param {string} text */
function setStatus(text) {
  $("status").textContent = text;
}

/**
 * Run an action from a button; typed errors go to the error box.
 * @param {(ev?: Event) => Promise<unknown>} fn @returns {(ev?: Event) => Promise<void>}
 */
function guarded(fn) {
  return async (ev) => {
    ev?.preventDefault?.();
    clearError();
    try { await fn(ev); } catch (e) { showError(e); }
  };
}

// --- join / leave ------------------------------------------------------------------------------

async function join() {
  const user = $("user").value.trim();
  const room = $("room").value.trim();
  $("join-btn").disabled = true;
  try {
    // A ticket signed by any app's server may be pasted; else the demo app mints one.
    let ticket = $("ticket").value.trim();
    if (!ticket) {
      const res = await fetch("/demo/ticket", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ user, room }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw IlvbError.fromWire(body.error || body.detail || body);
      ticket = body.ticket;
    }
    client = await Client.connect(location.origin, ticket, { devices });
    $("app").textContent = `app ${client.appId}`;
    wireClient(client);
    views.attach(client);
    setStatus(`connected as ${client.userId}`);
    const entered = await client.enter(room);
    $("me-name").textContent = client.userId;
    $("room-name").textContent = String(entered.room);
    $("join").hidden = true;
    $("room-view").hidden = false;
    await refreshMembers();
    await fillDevicePickers();
  } catch (e) {
    showError(e);
    await client?.close();
    client = null;
    $("join-btn").disabled = false;
    return;
  }
  $("join-btn").disabled = false;
  setStatus(`in room ${client.room} as ${client.userId}`);
  // In the room: a refused publish (limit reached, no permission) is shown, not fatal.
  if ($("with-mic").checked) await guarded(publishMic)();
  if ($("with-cam").checked) await guarded(publishCamera)();
  updateButtons();
  document.body.dataset.state = "joined";
}

async function leave() {
  await client?.close();
  client = null;
  members.clear();
  renderMembers();
  views.attach(null);
  $("preview").srcObject = null;
  $("room-view").hidden = true;
  $("join").hidden = false;
  setStatus("not connected");
  document.body.dataset.state = "left";
}

/** @param {Client} c */
function wireClient(c) {
  c.on("members.entered", ({ members: list }) => {
    for (const m of list) upsert(m);
    renderMembers();
    autoViews();
  });
  c.on("members.exited", ({ user_ids }) => {
    for (const id of user_ids) { members.delete(id); changedAt.set(id, Date.now()); }
    renderMembers();
  });
  c.on("member.state", (m) => { upsert(m); renderMembers(); autoViews(); });
  c.on("video.added", renderGrid);
  c.on("video.removed", renderGrid);
  c.on("room.exited", ({ reason }) => { setStatus(`left the room (${reason})`); });
  c.on("permissions.changed", ({ permissions }) => {
    setStatus(`permissions: ${Object.entries(permissions).filter(([, v]) => v).map(([k]) => k).join(", ") || "none"}`);
  });
  c.on("connection.lost", () => setStatus("connection lost, reconnecting…"));
  c.on("connection.resumed", () => { setStatus("reconnected"); refreshMembers(); });
  c.on("connection.closed", () => setStatus("disconnected"));
  c.on("unpublished", ({ source }) => {
    if (source === "camera") $("preview").srcObject = null;
    setStatus(`the server stopped your ${source}`);
    updateButtons();
  });
  c.on("error", showError);
}

/** @param {MemberState} m */
function upsert(m) {
  members.set(m.user_id, m);
  changedAt.set(m.user_id, Date.now());
}

async function refreshMembers() {
  members.clear();
  for (const m of await joined().allMembers()) upsert(m);
  renderMembers();
  autoViews();
}

// --- members and views -------------------------------------------------------------------------

/** @typedef {"audio" | "video" | "screen"} Kind */

/** @param {string} name @param {MemberState} m @param {Kind} key */
function badge(name, m, key) {
  const span = document.createElement("span");
  span.textContent = name;
  const sending = m.sending?.[key];
  const muted = m.muted?.[key];
  span.className = sending ? (muted ? "muted" : "sending") : "";
  return span;
}

/** @param {MemberState} m @param {Kind} key */
function stateOf(m, key) {
  if (!m.sending?.[key]) return "off";
  return m.muted?.[key] ? "muted" : "sending";
}

function renderMembers() {
  const ul = $("members");
  ul.replaceChildren();
  for (const m of members.values()) {
    const li = document.createElement("li");
    li.dataset.user = m.user_id;
    li.dataset.audio = stateOf(m, "audio");
    li.dataset.video = stateOf(m, "video");
    li.dataset.screen = stateOf(m, "screen");
    li.dataset.changedAt = String(changedAt.get(m.user_id) || 0);
    if (client && m.user_id === client.userId) li.classList.add("me");
    const name = document.createElement("span");
    name.textContent = m.user_id + (m.connected === false ? " (away)" : "");
    const badges = document.createElement("span");
    badges.className = "badges";
    badges.append(badge("mic", m, "audio"), badge("cam", m, "video"), badge("screen", m, "screen"));
    li.append(name, badges);
    ul.append(li);
  }
  $("member-count").textContent = `(${members.size})`;
}

/** Watch up to 4 members who send video (screen first), in entry order. */
function autoViews() {
  views.sync();
}

function renderGrid() {
  views.render();
}

// --- publishing --------------------------------------------------------------------------------

async function publishMic() {
  await joined().publish("microphone", { deviceId: $("mic-select").value || undefined });
  updateButtons();
}

async function publishCamera() {
  const { track } = await joined().publish("camera", { deviceId: $("cam-select").value || undefined });
  $("preview").srcObject = new MediaStream([track]);
  updateButtons();
  autoViews();
}

function updateButtons() {
  const me = client?.me;
  const mic = !!client?.localTrack("microphone");
  const cam = !!client?.localTrack("camera");
  const screen = !!client?.localTrack("screen");
  $("mic-btn").textContent = mic ? "Stop mic" : "Publish mic";
  $("mic-btn").classList.toggle("on", mic);
  $("cam-btn").textContent = cam ? "Stop camera" : "Publish camera";
  $("cam-btn").classList.toggle("on", cam);
  $("screen-btn").textContent = screen ? "Stop sharing" : "Share screen";
  $("screen-btn").classList.toggle("on", screen);
  $("mute-mic-btn").disabled = !mic;
  $("mute-cam-btn").disabled = !cam;
  $("mute-mic-btn").textContent = me?.muted?.audio ? "Unmute mic" : "Mute mic";
  $("mute-cam-btn").textContent = me?.muted?.video ? "Unmute camera" : "Mute camera";
}

$("mic-btn").onclick = guarded(async () => {
  const client = joined();
  if (client.localTrack("microphone")) await client.unpublish("microphone");
  else await publishMic();
  updateButtons();
});
$("cam-btn").onclick = guarded(async () => {
  const client = joined();
  if (client.localTrack("camera")) {
    await client.unpublish("camera");
    $("preview").srcObject = null;
  } else await publishCamera();
  updateButtons();
});
$("mute-mic-btn").onclick = guarded(async () => {
  const client = joined();
  await client.mute("microphone", !client.me?.muted?.audio);
  client.me = await client.member(client.userId);
  updateButtons();
});
$("mute-cam-btn").onclick = guarded(async () => {
  const client = joined();
  await client.mute("camera", !client.me?.muted?.video);
  client.me = await client.member(client.userId);
  updateButtons();
});
$("screen-btn").onclick = guarded(async () => {
  const client = joined();
  if (client.localTrack("screen")) await client.unpublish("screen");
  else {
    /** @type {import("./ilvb.js").ScreenModeName} */
    const mode = $("screen-mode").value;
    await client.publish("screen", { mode });
    const m = SCREEN_MODES[mode];
    setStatus(`sharing the screen: ${mode} ${m.width}×${m.height} @ ${m.frameRate} fps`);
  }
  updateButtons();
});
$("leave-btn").onclick = guarded(leave);
$("join").onsubmit = (/** @type {Event} */ ev) => { ev.preventDefault(); join(); };

// --- devices -----------------------------------------------------------------------------------

async function fillDevicePickers() {
  /** @param {string} id @param {import("./ilvb.js").DeviceType} type @param {string | null} current */
  const fill = async (id, type, current) => {
    const sel = $(id);
    const list = await devices.list(type);
    sel.replaceChildren(...list.map((d) => new Option(d.name, d.id, false, d.id === current)));
  };
  await fill("mic-select", "microphone", null);
  await fill("cam-select", "camera", devices.cameraDeviceId);
  await fill("speaker-select", "speaker", devices.speakerDeviceId);
}

$("mic-select").onchange = guarded(async () => { await devices.openMicrophone($("mic-select").value); });
$("cam-select").onchange = guarded(async () => {
  const track = await devices.openCamera($("cam-select").value);
  $("preview").srcObject = new MediaStream([track]);
});
$("speaker-select").onchange = guarded(async () => { await devices.setSpeaker($("speaker-select").value); });
$("mic-volume").oninput = () => { devices.microphoneVolume = Number($("mic-volume").value); };
$("speaker-volume").oninput = () => { devices.speakerVolume = Number($("speaker-volume").value); };
devices.on("devicechange", ({ added, removed }) => {
  setStatus(`devices changed: +${added.length} −${removed.length}`);
  fillDevicePickers();
});
devices.watch().catch(() => {});

function meters() {
  $("mic-level").value = devices.microphoneLevel();
  $("speaker-level").value = devices.speakerLevel();
  requestAnimationFrame(meters);
}
requestAnimationFrame(meters);

// --- start -------------------------------------------------------------------------------------

if (params.get("user")) $("user").value = params.get("user");
if (params.get("room")) $("room").value = params.get("room");
if (params.get("mic") === "0") $("with-mic").checked = false;
if (params.get("cam") === "0") $("with-cam").checked = false;
if (params.get("autojoin") === "1") join();
