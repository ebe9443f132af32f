/**
 * Accounts and billing: the account list (operator), an account's balance and ledger, its
 * invoices with their inputs, its site messages (arrears, suspension, restore) and price
 * plans (operator: the default tier table, an account's negotiated plan). A customer account
 * sees its own account only; top-ups and plans are the operator's.
 */

import { api, account } from "./api.js";
import { fmtTime, form, h } from "./dom.js";
import { show } from "./view.js";

const table = (id, heads, rows) =>
  h("table", { id }, h("tr", {}, heads.map((t) => h("th", {}, t))), rows);
const base = (accountId) => `/v1/accounts/${encodeURIComponent(accountId)}`;

function tabs(accountId, current) {
  const link = (sub, label) => h("a", {
    href: `#/accounts/${encodeURIComponent(accountId)}${sub ? "/" + sub : ""}`,
    class: current === sub ? "current" : undefined }, label);
  return h("p", { class: "tabs" }, link("", "Balance & ledger"), " ", link("invoices", "Invoices"),
    " ", link("messages", "Messages"), account() ? null : [" ", link("plan", "Price plan")]);
}

function balanceLine(a) {
  return h("p", { id: "balance", dataset: { suspended: String(a.suspended) } },
    `balance ${a.balance.balance} · frozen ${a.balance.frozen}` +
    ` · available ${a.balance.available} · ${a.suspended ? "SUSPENDED" : "active"}`);
}

/** Operator: every account, and a form to create one (with its console password). */
export async function accountsPage() {
  const { accounts } = await api("GET", "/v1/accounts");
  show(
    h("section", {}, h("h2", {}, "Create an account"),
      form([h("input", { name: "email", type: "email", required: true, placeholder: "e-mail" }),
            h("input", { name: "name", required: true, placeholder: "name" }),
            h("input", { name: "password", type: "password", minlength: 10, autocomplete: "new-password",
                         placeholder: "console password (optional)" })],
        "Create", async (v) => {
          const body = { email: v.email, name: v.name };
          if (v.password) body.password = v.password;
          await api("POST", "/v1/accounts", body);
          await accountsPage();
        }, { id: "create-account" })),
    h("section", {}, h("h2", {}, "Accounts"),
      table("accounts", ["account", "e-mail", "balance", "available", "apps", "plan", "state"],
        accounts.map((a) => h("tr", { dataset: { account: a.account_id } },
          h("td", {}, h("a", { href: `#/accounts/${a.account_id}` }, a.name)),
          h("td", {}, a.email), h("td", {}, a.balance.balance), h("td", {}, a.balance.available),
          h("td", {}, String(a.apps.length)), h("td", {}, a.plan.name),
          h("td", {}, a.suspended ? "suspended" : "active"))))));
}

/** Balance and ledger (the operator also tops up here). */
export async function accountPage(accountId) {
  const [a, ledger] = await Promise.all([api("GET", base(accountId)),
    api("GET", `${base(accountId)}/ledger`)]);
  const topUp = account() ? null : form([
    h("input", { name: "amount", required: true, placeholder: "100.00", "aria-label": "amount" }),
    h("input", { name: "key", required: true, placeholder: "payment reference",
                 "aria-label": "payment reference" })],
  "Top up", async (v) => { await api("POST", `${base(accountId)}/topups`, v); await accountPage(accountId); },
  { id: "topup" });
  show(
    h("section", {}, h("h2", {}, `${a.name} (${a.email})`), tabs(accountId, ""), balanceLine(a),
      h("p", { class: "muted" }, "Apps: ", a.apps.length ? a.apps.map((id) =>
        h("a", { href: `#/apps/${encodeURIComponent(id)}` }, id, " ")) : "none"), topUp),
    h("section", {}, h("h2", {}, "Ledger"),
      h("p", { class: "muted" }, "Top-ups and fees move the balance; freezes and releases what of it is frozen."),
      table("ledger", ["time", "entry", "kind", "amount", "reason"], ledger.entries.map((e) =>
        h("tr", { dataset: { key: e.key } }, h("td", {}, fmtTime(e.at)), h("td", {}, e.key),
          h("td", {}, e.kind), h("td", {}, e.amount), h("td", {}, e.reason))))));
}

/** Monthly invoices with their inputs: the peak, its minute, the plan, per-app figures. */
export async function invoicesPage(accountId) {
  const [a, { invoices }] = await Promise.all([api("GET", base(accountId)),
    api("GET", `${base(accountId)}/invoices`)]);
  show(h("section", {}, h("h2", {}, `Invoices of ${a.name}`), tabs(accountId, "invoices"),
    invoices.length ? null : h("p", { class: "muted" }, "No invoice yet."),
    invoices.map((i) => h("div", { class: "invoice", dataset: { month: i.month } },
      h("h3", {}, `${i.month}: ${i.fee} yuan`),
      h("p", {}, `peak ${i.peak} participants` +
        (i.peak_minute !== null ? ` at ${fmtTime(i.peak_minute)}` : "") +
        ` × ${i.unit_price} yuan (plan ${i.plan})`),
      table(`apps-${i.month}`, ["app", "at the peak minute", "its own peak"], i.apps.map((p) =>
        h("tr", {}, h("td", {}, p.app_id), h("td", {}, p.at_peak), h("td", {}, p.own_peak))))))));
}

/** Site messages: arrears after a settlement, suspension, restore. */
export async function messagesPage(accountId) {
  const [a, { messages }] = await Promise.all([api("GET", base(accountId)),
    api("GET", `${base(accountId)}/messages`)]);
  show(h("section", {}, h("h2", {}, `Messages for ${a.name}`), tabs(accountId, "messages"),
    balanceLine(a),
    messages.length ? null : h("p", { class: "muted" }, "No messages."),
    table("messages", ["time", "subject", "message", "e-mailed"], messages.map((m) =>
      h("tr", { dataset: { kind: m.kind } }, h("td", {}, fmtTime(m.created_at)),
        h("td", {}, m.subject), h("td", {}, m.body), h("td", {}, m.emailed ? "yes" : "not yet"))))));
}

function tierRows(plan) {
  return plan.tiers.map((t) => h("tr", {},
    h("td", {}, t.up_to === null ? "above" : `up to ${t.up_to}`), h("td", {}, t.unit_price)));
}

/** Operator: the default tier table, and one account's negotiated plan (tiers as lines). */
export async function planPage(accountId) {
  const [a, standard] = await Promise.all([api("GET", base(accountId)),
    api("GET", "/v1/billing/plans/default")]);
  const lines = a.plan.tiers.map((t) => `${t.up_to ?? "*"} ${t.unit_price}`).join("\n");
  const editor = form([
    h("input", { name: "name", required: true, value: a.plan.name, "aria-label": "plan name" }),
    h("textarea", { name: "tiers", rows: 6, cols: 30, "aria-label": "tiers" }, lines)],
  "Save plan", async (v) => {
    const tiers = v.tiers.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
      const [upTo, price] = l.split(/\s+/);
      return { up_to: upTo === "*" ? null : upTo, unit_price: price ?? "" };
    });
    await api("PUT", `${base(accountId)}/plan`, { name: v.name, tiers });
    await planPage(accountId);
  }, { id: "plan" });
  const reset = h("button", { type: "button", id: "plan-reset", onclick: async () => {
    await api("DELETE", `${base(accountId)}/plan`); await planPage(accountId);
  } }, "Back to the default plan");
  show(
    h("section", {}, h("h2", {}, `Price plan of ${a.name}`), tabs(accountId, "plan"),
      h("p", { id: "plan-name" }, `current plan: ${a.plan.name}`),
      table("plan-tiers", ["peak", "yuan per participant"], tierRows(a.plan)),
      h("p", { class: "muted" }, "A negotiated plan: one tier a line, “up_to unit_price”, the last “* unit_price”."),
      editor, reset),
    h("section", {}, h("h2", {}, "Default plan"),
      table("default-tiers", ["peak", "yuan per participant"], tierRows(standard))));
}
