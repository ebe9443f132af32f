/**
 * The ilvb web console: sign-in (a customer account's e-mail and password, or the operator's
 * admin key), applications (create, details, key
 * rotation, caps, integration, live rooms and members, usage), accounts and billing, SDK
 * downloads. Every page works through the same REST API an app's server uses.
 */

import { account, api, signOutEverywhere } from "./api.js";
import { appPage } from "./app-page.js";
import { accountPage, accountsPage, invoicesPage, messagesPage, planPage } from "./billing-page.js";
import { fmtTime, form, h } from "./dom.js";
import { identityPage } from "./identity-page.js";
import { qualityPage } from "./quality-page.js";
import { sdkPage } from "./sdk-page.js";
import { ensureSignedIn, signinPage } from "./session-page.js";
import { fail, nav, show, view } from "./view.js";

const ACCOUNT_PAGES = { invoices: invoicesPage, messages: messagesPage, plan: planPage };

/** The navigation for who is signed in: an account's billing links lead to its own account. */
function showNav() {
  nav.hidden = false;
  const own = account();
  const billing = document.getElementById("nav-billing");
  billing.href = own ? `#/accounts/${own.account_id}` : "#/accounts";
  const messages = document.getElementById("nav-messages");
  messages.hidden = !own;
  if (own) messages.href = `#/accounts/${own.account_id}/messages`;
  document.getElementById("who").textContent = own ? own.email : "operator";
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

// ------------------------------------------------------------------------------ router

async function route() {
  const hash = location.hash || "#/apps";
  document.body.dataset.state = "loading";
  try {
    const who = await ensureSignedIn();
    if (!who && hash !== "#/signin") { location.hash = "#/signin"; return; }
    if (hash === "#/signin") { signinPage(); } else {
      showNav();
      const [, page, id, sub] = hash.split("/");
      if (page === "apps" && id && sub === "quality") await qualityPage(decodeURIComponent(id));
      else if (page === "apps" && id && sub === "identity") await identityPage(decodeURIComponent(id));
      else if (page === "apps" && id) await appPage(decodeURIComponent(id));
      else if (page === "accounts" && id && ACCOUNT_PAGES[sub]) await ACCOUNT_PAGES[sub](decodeURIComponent(id));
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

document.getElementById("signout").addEventListener("click", async () => {
  await signOutEverywhere();
  location.hash = "#/signin";
});
window.addEventListener("hashchange", route);
route();
