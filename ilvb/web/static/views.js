// Remote views for the demo and scenario pages: watch up to `max` members who send video (screen
// shares first), keep the server's views in step with the member list, and draw them as tiles.
/** @typedef {import("./ilvb.js").Client} Client */
/** @typedef {import("./ilvb.js").MemberState} MemberState */

export class ViewGrid {
  /**
   * @param {HTMLElement} grid where the tiles go
   * @param {Map<string, MemberState>} members the page's member list (user_id -> state)
   * @param {{max?: number, onError?: (e: unknown) => void}} [opts]
   */
  constructor(grid, members, opts = {}) {
    this.grid = grid;
    this.members = members;
    this.max = opts.max ?? 4;
    this.onError = opts.onError ?? ((e) => console.warn("ilvb views:", e));
    /** @type {Client | null} */
    this.client = null;
    /** @type {Set<string>} "user|source" watched now */
    this._viewing = new Set();
    this._busy = false;
    this._again = false;
  }

  /** Start (or stop, with null) following a client's room. @param {Client | null} client */
  attach(client) {
    this.client = client;
    this._viewing.clear();
    if (!client) this.grid.replaceChildren();
  }

  /** Bring the views in line with the member list (coalesces calls made while busy). */
  async sync() {
    if (!this.client) return;
    if (this._busy) { this._again = true; return; }
    this._busy = true;
    try {
      do {
        this._again = false;
        await this._syncOnce(this.client);
      } while (this._again && this.client);
    } catch (e) {
      this.onError(e);
    } finally {
      this._busy = false;
    }
    this.render();
  }

  /** @param {Client} client */
  async _syncOnce(client) {
    const limit = this.max - (client.localTrack("camera") ? 1 : 0);
    /** @type {string[]} */
    const screens = [];
    /** @type {string[]} */
    const cameras = [];
    for (const m of this.members.values()) {
      if (m.user_id === client.userId) continue;
      if (m.sending?.screen) screens.push(`${m.user_id}|screen`);
      if (m.sending?.video) cameras.push(`${m.user_id}|camera`);
    }
    const keep = new Set([...screens, ...cameras].slice(0, Math.max(0, limit)));
    const drop = [...this._viewing].filter((k) => !keep.has(k));
    if (drop.length) {
      const users = [...new Set(drop.map((k) => k.split("|")[0]))];
      await client.cancelViews(users);
      for (const k of [...this._viewing]) if (users.includes(k.split("|")[0])) this._viewing.delete(k);
    }
    for (const key of keep) {
      if (this._viewing.has(key)) continue;
      const [user, source] = key.split("|");
      await client.requestViews([user], /** @type {"camera" | "screen"} */ (source));
      this._viewing.add(key);
    }
  }

  /** Draw the bound videos as tiles (a screen share first, marked `large`), then empty tiles. */
  render() {
    const client = this.client;
    if (!client) return;
    const bound = client.remoteVideos().filter((v) => v.userId);
    bound.sort((a, b) => Number(b.source === "screen") - Number(a.source === "screen"));
    const tiles = bound.slice(0, this.max).map((v) => {
      const tile = document.createElement("div");
      tile.className = v.source === "screen" ? "tile large" : "tile";
      tile.dataset.user = v.userId || "";
      tile.dataset.source = v.source || "";
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = `${v.userId} · ${v.source}`;
      tile.append(v.element, label);
      v.element.play().catch(() => {});
      return tile;
    });
    for (let i = tiles.length; i < this.max; i++) {
      const tile = document.createElement("div");
      tile.className = "tile empty";
      tile.textContent = "no video";
      tiles.push(tile);
    }
    this.grid.replaceChildren(...tiles);
  }
}
