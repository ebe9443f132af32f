/**
 * The ilvb web console: sign-in with the admin key, applications (create, details, key
 * rotation, caps, integration, live rooms and members, usage), accounts and billing, SDK
 * downloads. Every page works through the same REST API an app's server uses.
 */

import { api, adminKey, setAdminKey, signOut } from "./api.js";
import { appPage } from "./app-page.js";
import { fmtTime, form, h } from "./dom.js";
import { qualityPage } from "./quality-page.js";
import { sdkPage } from "./sdk-page.js";
import { fail, nav, show, view } from "./view.js";

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

// ------------------------------------------------------------------------------ router

async function route() {
  const hash = location.hash || "#/apps";
  if (!adminKey() && hash !== "#/signin") { location.hash = "#/signin"; return; }
  document.body.dataset.state = "loading";
  try {
    if (hash === "#/signin") { signinPage(); } else {
      nav.hidden = false;
      const [, page, id, sub] = hash.split("/");
      if (page === "apps" && id && sub === "quality") await qualityPage(decodeURIComponent(id));
      else if (page === "apps" && id) await appPage(decodeURIComponent(id));
      else if (page === "accounts" && id) await accountPage(decodeURIComponent(id));
      else if (page === "accounts") await accountsPage();
      else if (page === "sdk") await sdkPage();
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
