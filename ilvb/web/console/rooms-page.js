/**
 * An application's live rooms with their members (role, what each sends or may send), with
 * mute and kick.
 */

import { api } from "./api.js";
import { h } from "./dom.js";
import { fail } from "./view.js";

/** Draw the app's live rooms into `box` (again after each action). */
export async function drawRooms(appId, box) {
  const base = `/v1/apps/${encodeURIComponent(appId)}/rooms`;
  const { rooms } = await api("GET", base);
  if (!rooms.length) { box.replaceChildren(h("p", { class: "muted" }, "No live rooms.")); return; }
  const sections = [];
  for (const room of rooms) {
    const path = `${base}/${encodeURIComponent(room.room)}`;
    const kind = `kind=${room.kind}`;
    const page = await api("GET", `${path}/members?${kind}&limit=100`);
    const rows = page.members.map((m) => {
      const flag = (f) => (m.sending[f] ? "sending" : m.permissions[f] ? "allowed" : "—");
      const act = (label, call) => h("button", { type: "button", onclick: async () => {
        try { await call(); await drawRooms(appId, box); } catch (err) { fail(err); }
      } }, label);
      const member = `${path}/members/${encodeURIComponent(m.user_id)}`;
      return h("tr", { dataset: { user: m.user_id } },
        h("td", {}, m.user_id), h("td", {}, m.role),
        h("td", {}, flag("audio")), h("td", {}, flag("video")), h("td", {}, flag("screen")),
        h("td", {}, act("Mute", () => api("POST", `${member}/permissions?${kind}`, { audio: false })),
          " ", act("Kick", () => api("POST", `${member}/kick?${kind}`))));
    });
    sections.push(h("div", { class: "room", dataset: { room: String(room.room) } },
      h("h3", {}, `${room.kind} ${room.room} — ${page.total} member(s)`),
      h("table", {}, h("tr", {}, ...["user", "role", "audio", "video", "screen", ""].map(
        (t) => h("th", {}, t))), rows)));
  }
  box.replaceChildren(...sections);
}
