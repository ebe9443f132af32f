/**
 * Signing in: a customer account with its e-mail and password (a server-side session), or the
 * operator with the admin key. `ensureSignedIn` tells the router who is signed in, if anyone.
 */

import { api, adminKey, setAdminKey, setSession, signOut } from "./api.js";
import { form, h } from "./dom.js";
import { nav, show } from "./view.js";

/** "operator", "account" or null (signed out); an account's session is fetched once per load. */
export async function ensureSignedIn() {
  if (adminKey()) return "operator";
  try {
    setSession(await api("GET", "/v1/session"));
    return "account";
  } catch (err) {
    if (err.status === 401) { signOut(); return null; }
    throw err;
  }
}

export function signinPage() {
  nav.hidden = true;
  show(
    h("section", {},
      h("h2", {}, "Sign in"),
      form([
        h("input", { name: "email", type: "email", required: true, autocomplete: "username",
                     placeholder: "e-mail", "aria-label": "e-mail" }),
        h("input", { name: "password", type: "password", required: true,
                     autocomplete: "current-password", placeholder: "password",
                     "aria-label": "password" }),
      ], "Sign in", async ({ email, password }) => {
        signOut();
        setSession(await api("POST", "/v1/session", { email, password }));
        location.hash = "#/apps";
      }, { id: "login" })),
    h("section", {},
      h("h2", {}, "Operator"),
      h("p", { class: "muted" }, "The operator's admin key (`ilvb admin-key reset` writes one)."),
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
        }, { id: "signin" })),
    h("section", {},
      h("h2", {}, "New account"),
      h("p", { class: "muted" }, "Where the operator allows it; otherwise ask the operator."),
      form([
        h("input", { name: "email", type: "email", required: true, placeholder: "e-mail",
                     "aria-label": "new account e-mail" }),
        h("input", { name: "name", required: true, placeholder: "name", maxlength: 200,
                     "aria-label": "new account name" }),
        h("input", { name: "password", type: "password", required: true, minlength: 10,
                     autocomplete: "new-password", placeholder: "password (10+ characters)",
                     "aria-label": "new password" }),
      ], "Create account", async (values) => {
        signOut();
        setSession(await api("POST", "/v1/signup", values));
        location.hash = "#/apps";
      }, { id: "signup" })));
}
