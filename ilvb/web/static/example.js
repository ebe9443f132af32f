// The example of docs/web-sdk.md, loaded by example.html: join a room, show the others, publish.
import { Client, IlvbError } from "./ilvb.js";

/** @type {(id: string) => any} an element by id */
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const user = params.get("user") || "alice";
const room = params.get("room") || "math-101";
const status = (/** @type {string} */ text) => { $("status").textContent = text; };

// A login ticket. With `ilvb serve --demo` anyone may get one; a real app's server signs it.
const { ticket } = await (await fetch("/demo/ticket", {
  method: "POST", headers: { "content-type": "application/json" },
  body: JSON.stringify({ user, room }),
})).json();

const client = await Client.connect(location.origin, ticket);   // ws://…/ws, hello
await client.enter(room);                                       // also opens the receive transport
/** @type {any} */ (window).client = client;

// Show whoever the server puts into my receive slots.
client.on("video.added", ({ userId, video }) => {
  video.element.dataset.user = userId;
  video.element.width = 320;
  $("others").append(video.element);
});
client.on("video.removed", ({ video }) => video.element.remove());

// Watch everyone who sends video (up to 4 views, 3 while I send video myself).
const watch = async (/** @type {import("./ilvb.js").MemberState} */ m) => {
  if (m.sending.video && m.user_id !== client.userId) await client.requestViews([m.user_id]);
};
client.on("member.state", watch);
for (const m of await client.allMembers()) await watch(m);

try {
  await client.publish("microphone");
  const { track } = await client.publish("camera");
  $("me").srcObject = new MediaStream([track]);
  status(`in ${room} as ${user}`);
} catch (e) {
  const err = /** @type {IlvbError} */ (e);
  if (err instanceof IlvbError && err.code === "video_sender_limit") status("4 members already send video");
  else status(`${err.code}: ${err.message}`);
}
