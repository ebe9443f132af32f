/**
 * An application's quality profiles (`GET/PUT /v1/apps/{id}/quality…`): the stored ones per
 * platform × role with how each differs from its template, and an editor that starts from a
 * template, marks every field that differs from it, and shows the server's validation error at
 * the field it names (`details.field`). Field kinds and bounds come from `/openapi.json`.
 */

import { api } from "./api.js";
import { h } from "./dom.js";
import { show } from "./view.js";

const PLATFORMS = ["web", "python", "android", "ios", "pc"];
// The editor's groups: [title, path in the profile].
const GROUPS = [["Audio", ["audio"]], ["Video", ["video"]],
  ["Screen sharing: clear (detail)", ["screen", "clear"]],
  ["Screen sharing: smooth (motion)", ["screen", "smooth"]], ["Network", ["network"]]];

const at = (obj, path) => path.reduce((o, k) => (o == null ? undefined : o[k]), obj);

/** The JSON schema of each field of the profile body (dotted path -> schema), or {}. */
async function fieldSchemas() {
  let doc;
  try {
    doc = await (await fetch("/openapi.json", { credentials: "omit" })).json();
  } catch {
    return {};
  }
  const schemas = doc.components?.schemas || {};
  const deref = (s) => {
    const ref = s?.$ref || (s?.anyOf || []).find((x) => x.$ref)?.$ref;
    return ref ? schemas[ref.split("/").pop()] : null;
  };
  const out = {};
  const walk = (schema, prefix) => {
    for (const [name, prop] of Object.entries(schema?.properties || {})) {
      const inner = deref(prop);
      if (inner) { walk(inner, `${prefix}${name}.`); continue; }
      out[`${prefix}${name}`] = (prop.anyOf || [prop]).find((x) => x.type !== "null") || prop;
    }
  };
  walk(schemas.QualityBody, "");
  return out;
}

function fieldInput(path, value, schema) {
  if (typeof value === "boolean") return h("input", { name: path, type: "checkbox", checked: value });
  const choices = schema?.enum || (schema?.const !== undefined ? [schema.const] : null);
  if (choices) {
    return h("select", { name: path },
      choices.map((c) => h("option", { value: String(c), selected: c === value }, String(c))));
  }
  if (typeof value === "number") {
    return h("input", { name: path, type: "number", step: "any", value: String(value),
                        min: schema?.minimum, max: schema?.maximum });
  }
  return h("input", { name: path, value: String(value) });
}

/** The value a field's control holds, typed like the template's value. */
function readField(control, like) {
  if (control.type === "checkbox") return control.checked;
  if (typeof like === "number") return control.value.trim() === "" ? null : Number(control.value);
  return control.value;
}

/** The page; `saved` (a stored profile) is announced above the table. */
export async function qualityPage(appId, saved = null) {
  const base = `/v1/apps/${encodeURIComponent(appId)}/quality`;
  const [listing, schemas] = await Promise.all([api("GET", base), fieldSchemas()]);
  const templates = Object.fromEntries(listing.templates.map((t) => [t.name, t.profile]));
  const editorBox = h("div", { id: "editor" });
  const savedLine = h("p", { id: "saved", class: "muted" });
  if (saved) {
    savedLine.textContent = `Saved ${saved.platform}/${saved.role} version ${saved.version}.`;
    savedLine.dataset.version = String(saved.version);
  }

  const edit = (platform, role, templateName, profile) => {
    editorBox.replaceChildren(editor(platform, role, templateName, profile));
  };

  function editor(platform, role, templateName, profile) {
    const template = () => templates[templateSelect.value];
    const templateSelect = h("select", { name: "template", "aria-label": "template" },
      Object.keys(templates).map((n) => h("option", { value: n, selected: n === templateName }, n)));
    const platformSelect = h("select", { name: "platform", "aria-label": "platform" },
      PLATFORMS.map((p) => h("option", { value: p, selected: p === platform }, p)));
    const roleInput = h("input", { name: "role", value: role, required: true, maxlength: 64,
                                   "aria-label": "role", placeholder: "role, or * for any" });
    const formError = h("span", { class: "field-error", id: "quality-error", role: "alert" });
    const differsBox = h("p", { id: "differs", class: "muted" });
    const fields = []; // [path, control, label, error span]
    const groups = GROUPS.map(([title, path]) => h("fieldset", {}, h("legend", {}, title),
      Object.entries(at(profile, path)).map(([name, value]) => {
        const dotted = [...path, name].join(".");
        const control = fieldInput(dotted, value, schemas[dotted]);
        const error = h("span", { class: "field-error", role: "alert" });
        const note = h("span", { class: "template-value muted" });
        const bounds = schemas[dotted]?.minimum !== undefined
          ? ` (${schemas[dotted].minimum}–${schemas[dotted].maximum})` : "";
        const label = h("label", { dataset: { field: dotted } }, `${name}${bounds} `, control,
          " ", note, error);
        fields.push([dotted, control, label, error, note]);
        return label;
      })));
    const form = h("form", { id: "quality-form", novalidate: true },
      h("p", {}, h("label", {}, "platform ", platformSelect), " ",
        h("label", {}, "role ", roleInput), " ",
        h("label", {}, "template ", templateSelect)),
      groups, differsBox, h("button", { type: "submit" }, "Save profile"), " ", formError);

    /** The fields whose value differs from the selected template (dotted path -> value). */
    const differences = () => {
      const out = {};
      for (const [path, control, label, , note] of fields) {
        const like = at(template(), path.split("."));
        const value = readField(control, like);
        const differs = value !== like;
        label.classList.toggle("differs", differs);
        note.textContent = differs ? `template: ${like}` : "";
        if (differs) out[path] = value;
      }
      const entries = Object.entries(out);
      differsBox.textContent = entries.length
        ? `Differs from ${templateSelect.value}: ${entries.map(([k, v]) => `${k} = ${v}`).join(", ")}`
        : `Same as ${templateSelect.value}.`;
      differsBox.dataset.count = String(entries.length);
      return out;
    };
    form.addEventListener("input", differences);
    form.addEventListener("change", differences);
    templateSelect.addEventListener("change", () => {
      // A new template: start from its values.
      edit(platformSelect.value, roleInput.value, templateSelect.value, template());
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      formError.textContent = "";
      for (const [, , label, error] of fields) { error.textContent = ""; delete label.dataset.invalid; }
      const body = { template: templateSelect.value };
      for (const [path, value] of Object.entries(differences())) {
        const keys = path.split(".");
        let node = body;
        for (const k of keys.slice(0, -1)) node = node[k] = node[k] || {};
        node[keys[keys.length - 1]] = value;
      }
      const where = `${base}/${encodeURIComponent(platformSelect.value)}/${encodeURIComponent(roleInput.value)}`;
      try {
        await qualityPage(appId, await api("PUT", where, body));
      } catch (err) {
        const field = err.details?.field;
        const hit = fields.find(([path]) => path === field);
        const target = hit ? hit[3] : formError;
        if (hit) hit[2].dataset.invalid = "1";
        target.textContent = `${err.code || "error"}: ${err.message}`;
        target.dataset.code = err.code || "";
      }
    });
    differences();
    return form;
  }

  const rows = listing.profiles.map((p) => h("tr", { dataset: { key: `${p.platform}/${p.role}` } },
    h("td", {}, p.platform), h("td", {}, p.role), h("td", {}, p.template),
    h("td", {}, String(p.version)),
    h("td", { class: "differs-list" }, Object.entries(p.differs).map(([k, v]) => `${k} = ${v}`).join(", ") || "—"),
    h("td", {}, h("button", { type: "button", onclick: () => edit(p.platform, p.role, p.template, p.profile) },
      "Edit"))));
  show(
    h("section", {}, h("h2", {}, "Quality profiles"),
      h("p", {}, h("a", { href: `#/apps/${encodeURIComponent(appId)}` }, "← application"),
        " · A member gets its platform × role profile, else its platform's `*` profile, else " +
        "the realtime_call template. A change reaches members in rooms at once."),
      h("table", { id: "profiles" },
        h("tr", {}, ["platform", "role", "template", "version", "differs from the template", ""]
          .map((t) => h("th", {}, t))), rows), savedLine),
    h("section", {}, h("h2", {}, "Edit a profile"), editorBox));
  edit("web", "*", "realtime_call", templates.realtime_call);
}
