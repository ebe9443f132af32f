/**
 * An application's details: id, secret with key rotation, name, sender caps and enabled, how
 * its server signs login tickets, the last day's usage chart and its live rooms.
 */

import { api } from "./api.js";
import { drawUsage } from "./chart.js";
import { fmtTime, form, h } from "./dom.js";
import { drawRooms } from "./rooms-page.js";
import { fail, show } from "./view.js";

function capInput(name, value) {
  return h("label", {}, name.replace("_", " "), " ",
    h("input", { name, type: "number", value: value ?? "", placeholder: "default" }));
}

export async function appPage(appId) {
  const app = await api("GET", `/v1/apps/${encodeURIComponent(appId)}`);
  const secret = h("span", { class: "secret", id: "secret" }, app.secret || "(hidden)");
  const settings = form([
    h("label", {}, "name ", h("input", { name: "name", value: app.name, maxlength: 200 })),
    capInput("audio_sender_cap", app.audio_sender_cap),
    capInput("video_sender_cap", app.video_sender_cap),
    h("label", {}, h("input", { name: "enabled", type: "checkbox", checked: app.enabled }), " enabled"),
  ], "Save", async (values) => {
    const body = { name: values.name, enabled: values.enabled === "on" };
    for (const cap of ["audio_sender_cap", "video_sender_cap"]) {
      if (values[cap] !== "") body[cap] = Number(values[cap]);
    }
    await api("PATCH", `/v1/apps/${encodeURIComponent(appId)}`, body);
    await appPage(appId);
  }, { id: "app-settings" });
  const rotate = h("button", { id: "rotate", type: "button", onclick: async () => {
    if (!confirm("Rotate the key? Tickets signed with the old one stop working at once.")) return;
    try {
      const rotated = await api("POST", `/v1/apps/${encodeURIComponent(appId)}/rotate`);
      secret.textContent = rotated.secret;
      secret.dataset.rotated = "1";
    } catch (err) { fail(err); }
  } }, "Rotate key");
  const canvas = h("canvas", { id: "usage" });
  const peak = h("p", { id: "peak", class: "muted" });
  const rooms = h("div", { id: "rooms" });
  show(
    h("section", {}, h("h2", {}, app.name), h("p", {}, "App id ", h("code", {}, app.app_id),
      " · created ", fmtTime(app.created_at)), h("p", {}, "Secret ", secret, " ", rotate),
      h("p", {}, h("a", { id: "quality-link", href: `#/apps/${encodeURIComponent(appId)}/quality` },
        "Quality profiles"))),
    h("section", {}, h("h2", {}, "Settings"), settings),
    h("section", { id: "integration" }, h("h2", {}, "Account integration"),
      h("p", {}, "Own accounts: your server signs a login ticket for each user with the app's " +
        "secret (HS256 JWT, iss = app id, sub = user id) and hands it to the SDK:"),
      h("pre", {}, `ilvb ticket --app-id ${app.app_id} --secret-file ./secret --user alice`),
      h("p", {}, "Third-party identities (OpenID Connect): ",
        h("a", { href: `#/apps/${encodeURIComponent(app.app_id)}/identity`, id: "identity-link" },
          "identity providers"))),
    h("section", {}, h("h2", {}, "Usage (last 24 hours)"), canvas, peak),
    h("section", {}, h("h2", {}, "Live rooms"), rooms));
  await Promise.all([drawAppUsage(appId, canvas, peak), drawRooms(appId, rooms)]);
}

async function drawAppUsage(appId, canvas, peak) {
  const to = new Date(Date.now() + 60_000);
  const from = new Date(to.getTime() - 86_400_000);
  const q = `from=${from.toISOString()}&to=${to.toISOString()}&step=minute`;
  const usage = await api("GET", `/v1/apps/${encodeURIComponent(appId)}/usage?${q}`);
  drawUsage(canvas, usage.points);
  peak.textContent = usage.peak.t ? `peak ${usage.peak.value} at ${usage.peak.t}` : "no usage";
}
