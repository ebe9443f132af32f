/**
 * SDK downloads (`GET /v1/sdk`): the Web SDK's files (ES modules served at /sdk, with their
 * TypeScript declarations) and the Python SDK wheel built from the server's own package.
 */

import { api } from "./api.js";
import { h } from "./dom.js";
import { show } from "./view.js";

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;

export async function sdkPage() {
  const sdk = await api("GET", "/v1/sdk");
  const py = sdk.python;
  show(
    h("section", { id: "sdk" }, h("h2", {}, `SDK downloads (ilvb ${sdk.version})`),
      h("h3", {}, "Python SDK"),
      h("p", {}, h("a", { id: "python-wheel", href: py.url, download: py.name }, py.name),
        ` — ${kb(py.size)}, sha256 `, h("code", {}, py.sha256)),
      h("pre", {}, `${py.install}\npython -c "import ilvb.client"`),
      h("h3", {}, "Web SDK"),
      h("p", {}, "ES modules: import ", h("code", {}, sdk.web.entry),
        "; it loads the modules below from the same directory."),
      h("table", { id: "web-sdk" },
        h("tr", {}, h("th", {}, "file"), h("th", {}, "size"), h("th", {}, "sha256")),
        sdk.web.files.map((f) => h("tr", { dataset: { file: f.name } },
          h("td", {}, h("a", { href: f.url, download: f.name }, f.url)),
          h("td", {}, kb(f.size)), h("td", {}, h("code", {}, f.sha256.slice(0, 16))))))));
}
