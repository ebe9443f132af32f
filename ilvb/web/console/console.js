/**
 * The ilvb web console: sign-in with the admin key, applications (create, details, key
 * rotation, caps, integration, live rooms and members, usage), accounts and billing, SDK
 * downloads. Every page works through the same REST API an app's server uses.
 */

import { api, adminKey, setAdminKey, signOut } from "./api.js";
import { drawUsage } from "./chart.js";
import { fmtTime, form, h } from "./dom.js";

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const errorBox = document.getElementById("error");

function show(...nodes) {
  errorBox.hidden = true;
  view.replaceChildren(...nodes);
}

function fail(err) {
  errorBox.hidden = false;
  errorBox.textContent = `${err.code || "error"}: ${err.message}`;
  errorBox.dataset.code = err.code || "";
  if (err.status === 401) { signOut(); location.hash = "#/signin"; }
}

// ------------------------------------------------------------------------------ sign-in

function signinPage() {
  nav.hidden = true;
  show(h("section", {},
    h("h2", {}, "Sign in"),
    h("p", { class: "muted" }, "The operator's admin key (printed by the first `ilvb serve`)."),
    form([h("input", { name: "key", type: "password", required: true, autocomplete: "off",
                       placeholder: "admin key", "aria-label": "admin key" })],
      "Sign in", async ({ key }) => {
        setAdminKey(key);
        try {
          await api("GET", "/v1/apps");
        } catch (err) {
          signOut();
          throw err;
        }
        location.hash = "#/apps";
      }, { id: "signin" })));
}

// ------------------------------------------------------------------------------ apps

async function appsPage() {
  const { apps } = await api("GET", "/v1/apps");
  const created = h("div", { id: "created" });
  const rows = apps.map((a) => h("tr", { dataset: { app: a.app_id } },
    h("td", {}, h("a", { href: `#/apps/${encodeURIComponent(a.app_id)}` }, a.name)),
    h("td", {}, h("code", {}, a.app_id)),
    h("td", {}, a.enabled ? "enabled" : "disabled"),
    h("td", {}, fmtTime(a.created_at))));
  show(
    h("section", {}, h("h2", {}, "Create an application"),
      form([h("input", { name: "name", required: true, maxlength: 200, placeholder: "name",
                         "aria-label": "application name" })],
        "Create", async ({ name }) => {
          const app = await api("POST", "/v1/apps", { name });
          created.replaceChildren(h("p", {}, "Created ", h("code", {}, app.app_id),
            ". Its secret (shown now; keep it on your server): ",
            h("span", { class: "secret", id: "new-secret" }, app.secret)));
          await appsPage().then(() => view.prepend(created)).catch(fail);
        }, { id: "create-app" }), created),
    h("section", {}, h("h2", {}, `Applications (${apps.length})`),
      h("table", { id: "apps" },
        h("tr", {}, h("th", {}, "name"), h("th", {}, "app id"), h("th", {}, "state"),
          h("th", {}, "created")), rows)));
}

function capInput(name, value) {
  return h("label", {}, name.replace("_", " "), " ",
    h("input", { name, type: "number", value: value ?? "", placeholder: "default" }));
}

async function appPage(appId) {
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
      " · created ", fmtTime(app.created_at)), h("p", {}, "Secret ", secret, " ", rotate)),
    h("section", {}, h("h2", {}, "Settings"), settings),
    h("section", { id: "integration" }, h("h2", {}, "Account integration"),
      h("p", {}, "Own accounts: your server signs a login ticket for each user with the app's " +
        "secret (HS256 JWT, iss = app id, sub = user id) and hands it to the SDK:"),
      h("pre", {}, `ilvb ticket --app-id ${app.app_id} --secret-file ./secret --user alice`),
      h("p", { class: "muted" }, "Third-party identity providers are not configurable yet.")),
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

async function drawRooms(appId, box) {
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

// ------------------------------------------------------------------------------ billing

async function accountsPage() {
  const { accounts } = await api("GET", "/v1/accounts");
  show(
    h("section", {}, h("h2", {}, "Create an account"),
      form([h("input", { name: "email", type: "email", required: true, placeholder: "e-mail" }),
            h("input", { name: "name", required: true, placeholder: "name" })],
        "Create", async (v) => { await api("POST", "/v1/accounts", v); await accountsPage(); },
        { id: "create-account" })),
    h("section", {}, h("h2", {}, "Accounts"),
      h("table", { id: "accounts" },
        h("tr", {}, ...["account", "e-mail", "balance", "available", "state"].map((t) => h("th", {}, t))),
        accounts.map((a) => h("tr", { dataset: { account: a.account_id } },
          h("td", {}, h("a", { href: `#/accounts/${a.account_id}` }, a.name)),
          h("td", {}, a.email), h("td", {}, a.balance.balance), h("td", {}, a.balance.available),
          h("td", {}, a.suspended ? "suspended" : "active"))))));
}

async function accountPage(accountId) {
  const base = `/v1/accounts/${encodeURIComponent(accountId)}`;
  const [account, ledger, invoices, messages] = await Promise.all([
    api("GET", base), api("GET", `${base}/ledger`), api("GET", `${base}/invoices`),
    api("GET", `${base}/messages`)]);
  const table = (id, heads, rows) => h("table", { id }, h("tr", {}, heads.map((t) => h("th", {}, t))), rows);
  show(
    h("section", {}, h("h2", {}, `${account.name} (${account.email})`),
      h("p", { id: "balance" }, `balance ${account.balance.balance} · frozen ${account.balance.frozen}` +
        ` · available ${account.balance.available} · ${account.suspended ? "SUSPENDED" : "active"}`),
      form([h("input", { name: "amount", required: true, placeholder: "100.00" }),
            h("input", { name: "key", required: true, placeholder: "payment reference" })],
        "Top up", async (v) => { await api("POST", `${base}/topups`, v); await accountPage(accountId); },
        { id: "topup" })),
    h("section", {}, h("h2", {}, "Messages"),
      table("messages", ["time", "subject", "message"], messages.messages.map((m) =>
        h("tr", { dataset: { kind: m.kind } }, h("td", {}, fmtTime(m.created_at)),
          h("td", {}, m.subject), h("td", {}, m.body))))),
    h("section", {}, h("h2", {}, "Invoices"),
      table("invoices", ["month", "peak", "unit price", "fee"], invoices.invoices.map((i) =>
        h("tr", {}, h("td", {}, i.month), h("td", {}, i.peak), h("td", {}, i.unit_price),
          h("td", {}, i.fee))))),
    h("section", {}, h("h2", {}, "Ledger"),
      table("ledger", ["time", "entry", "amount", "reason"], ledger.entries.map((e) =>
        h("tr", {}, h("td", {}, fmtTime(e.at)), h("td", {}, e.key), h("td", {}, e.amount),
          h("td", {}, e.reason))))));
}

function sdkPage() {
  show(h("section", { id: "sdk" }, h("h2", {}, "SDK downloads"),
    h("ul", {},
      h("li", {}, h("a", { href: "/sdk/ilvb.js", download: "ilvb.js" }, "Web SDK entry point (ilvb.js)"),
        " — an ES module; its modules load from /sdk/"),
      h("li", {}, h("a", { href: "/sdk/ilvb.d.ts", download: "ilvb.d.ts" }, "TypeScript types (ilvb.d.ts)")),
      h("li", {}, "Python SDK: ", h("code", {}, "pip install ilvb"), " (module ilvb.client)"))));
}

// ------------------------------------------------------------------------------ router

async function route() {
  const hash = location.hash || "#/apps";
  if (!adminKey() && hash !== "#/signin") { location.hash = "#/signin"; return; }
  document.body.dataset.state = "loading";
  try {
    if (hash === "#/signin") { signinPage(); } else {
      nav.hidden = false;
      const [, page, id] = hash.split("/");
      if (page === "apps" && id) await appPage(decodeURIComponent(id));
      else if (page === "accounts" && id) await accountPage(decodeURIComponent(id));
      else if (page === "accounts") await accountsPage();
      else if (page === "sdk") sdkPage();
      else await appsPage();
    }
  } catch (err) {
    fail(err);
  }
  document.body.dataset.state = "ready";
}

document.getElementById("signout").addEventListener("click", () => { signOut(); location.hash = "#/signin"; });
window.addEventListener("hashchange", route);
route();
