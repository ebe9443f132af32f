// The replay page: /replay?recording=ID&room=ROOM plays a recording of the demo app. It takes a
// demo ticket, reads the recording's files through the demo app's server (/demo/recordings/…)
// and plays the chosen file from a Blob (a <video> cannot send the ticket itself).
import { IlvbError } from "./ilvb.js";

/** @type {(id: string) => any} */
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
/** @type {any} */ (window).replay = { errors: [] };

/** @param {unknown} err */
function showError(err) {
  const e = err instanceof IlvbError ? err : new IlvbError("internal_error", String(err));
  /** @type {any} */ (window).replay.errors.push(e.code);
  $("error").textContent = `${e.message} (${e.code})`;
  $("error").hidden = false;
}

/** @param {string} path @param {string} ticket */
async function get(path, ticket) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${ticket}` } });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw IlvbError.fromWire(body.error || { code: "internal_error", message: `HTTP ${res.status}` });
  }
  return res;
}

async function main() {
  const id = params.get("recording");
  if (!id) throw new IlvbError("invalid_argument", "no ?recording= in the URL");
  const res = await fetch("/demo/ticket", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ user: "replay-viewer", room: params.get("room") || undefined, role: "audience" }),
  });
  const { ticket } = await res.json();
  const rec = await (await get(`/demo/recordings/${encodeURIComponent(id)}`, ticket)).json();
  $("status").textContent = `room ${rec.room}: ${rec.mode} recording, ${rec.state}`;
  /** @param {{name: string, bytes: number, duration_s: number | null, format: string}} f */
  const play = async (f) => {
    const blob = await (await get(`/demo/recordings/${encodeURIComponent(id)}/files/${encodeURIComponent(f.name)}`, ticket)).blob();
    $("player").src = URL.createObjectURL(blob);
    $("player").dataset.file = f.name;
    await $("player").play().catch(() => {});
  };
  $("files").replaceChildren(...rec.files.map((/** @type {any} */ f) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `${f.name} · ${f.format} · ${Math.round(f.duration_s || 0)} s · ${Math.round(f.bytes / 1024)} KiB`;
    b.onclick = () => play(f).catch(showError);
    li.append(b);
    return li;
  }));
  const first = rec.files.find((/** @type {any} */ f) => f.name === params.get("file")) || rec.files[0];
  if (first) await play(first);
}

main().catch(showError);
