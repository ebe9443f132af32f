/** The console's frame: the view pages render into, the navigation, and the error line. */

import { signOut } from "./api.js";

export const view = document.getElementById("view");
export const nav = document.getElementById("nav");
const errorBox = document.getElementById("error");

/** Replace the page's content (and clear the error line). */
export function show(...nodes) {
  errorBox.hidden = true;
  view.replaceChildren(...nodes);
}

/** Show a failed call; a refused credential goes back to sign-in. */
export function fail(err) {
  errorBox.hidden = false;
  errorBox.textContent = `${err.code || "error"}: ${err.message}`;
  errorBox.dataset.code = err.code || "";
  if (err.status === 401) { signOut(); location.hash = "#/signin"; }
}
