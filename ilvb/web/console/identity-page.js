/**
 * An app's identity providers (OpenID Connect): the issuers whose ID tokens its users may
 * present instead of an ilvb ticket, with audience, algorithms and the claims used.
 */

import { api } from "./api.js";
import { form, h } from "./dom.js";
import { show } from "./view.js";

const FIELDS = ["issuer", "audience", "algorithms", "user_claim", "role_claim", "default_role"];

function row(p, i) {
  const input = (name, value, extra = {}) => h("input", {
    name: `${name}.${i}`, value: value ?? "", "aria-label": `${name} ${i + 1}`, ...extra });
  return h("fieldset", { class: "provider", dataset: { index: String(i) } },
    h("legend", {}, `provider ${i + 1}`),
    input("issuer", p.issuer, { placeholder: "https://login.example.com", size: 40 }),
    input("audience", p.audience, { placeholder: "client id" }),
    input("algorithms", (p.algorithms || ["RS256"]).join(" "), { placeholder: "RS256 ES256" }),
    input("user_claim", p.user_claim || "sub"),
    input("role_claim", p.role_claim, { placeholder: "role claim (optional)" }),
    input("default_role", p.default_role || "audience"));
}

export async function identityPage(appId) {
  const path = `/v1/apps/${encodeURIComponent(appId)}/identity-providers`;
  const { providers } = await api("GET", path);
  const rows = [...providers.map(row), row({}, providers.length)];
  show(h("section", {}, h("h2", {}, "Identity providers"),
    h("p", { class: "muted" }, "Users proven by these OpenID Connect providers enter with the " +
      "provider's ID token. Leave the last issuer empty to add none; clear one to remove it."),
    h("p", {}, h("a", { href: `#/apps/${encodeURIComponent(appId)}` }, "← back to the app")),
    form(rows, "Save providers", async (values) => {
      const list = [];
      for (let i = 0; i < rows.length; i++) {
        const v = Object.fromEntries(FIELDS.map((f) => [f, (values[`${f}.${i}`] || "").trim()]));
        if (!v.issuer) continue;
        list.push({ issuer: v.issuer, audience: v.audience,
          algorithms: v.algorithms.split(/[\s,]+/).filter(Boolean), user_claim: v.user_claim,
          role_claim: v.role_claim || null, default_role: v.default_role });
      }
      await api("PUT", path, { providers: list });
      await identityPage(appId);
    }, { id: "identity-providers" })));
}
