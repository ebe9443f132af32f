/** `h("tag", {attr: value, onclick: fn}, ...children)`: DOM without innerHTML (no markup
 * injection from names or ids the server returns). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A form whose submit handler gets the named fields' values; errors show beside it. */
export function form(fields, label, onSubmit, attrs = {}) {
  const error = h("span", { class: "field-error", role: "alert" });
  const el = h("form", attrs, ...fields, h("button", { type: "submit" }, label), error);
  el.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const values = Object.fromEntries(new FormData(el).entries());
    try {
      await onSubmit(values);
    } catch (err) {
      error.textContent = `${err.code || "error"}: ${err.message}`;
      error.dataset.code = err.code || "";
    }
  });
  return el;
}

export const fmtTime = (t) => new Date(t * 1000).toISOString().replace(".000Z", "Z");
