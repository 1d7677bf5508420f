// Live preview: the selected image's original beside its edges with the current settings,
// updated while a slider moves. Previews come from GET .../preview.png, which stores
// nothing (docs/api.md): only Keep makes a gallery result, so nothing is left to clean up.
// The edges are drawn on a canvas: a blob: URL in an <img> would need the gateway's
// Content-Security-Policy (default-src 'self') to allow blob: images.

import { edgeImage, previewEdges } from "./api.js";
import { announce } from "./announcer.js";
import { describeParams, fileInfo, sameParams } from "./names.js";

// Requests start at most this often, and never faster than the last one took: a slow
// machine gets fewer, not a pile of requests that each cancel the one before. Each
// request cancelled unfinished widens the interval, so a drag still gets previews.
const MIN_INTERVAL_MS = 80;
const MAX_INTERVAL_MS = 1500;
const WIDEN_AFTER_CANCEL = 1.5;
const byId = (id) => document.getElementById(id);

export class Preview {
  constructor({ settings, onKeep }) {
    Object.assign(this, { settings, onKeep });
    this.panel = byId("preview");
    this.title = byId("preview-title");
    this.note = byId("preview-note");
    this.original = byId("preview-original");
    this.edges = byId("preview-edges");
    this.actions = byId("preview-actions");
    this.source = null;
    this.shown = null; // the params whose edges are on screen
    this.controller = null;
    this.timer = null;
    this.lastStart = 0;
    this.interval = MIN_INTERVAL_MS;
    byId("preview-keep").addEventListener("click", () => this.#keep());
    byId("preview-discard").addEventListener("click", () => this.#discard());
  }

  // Everything shown (title, original, edges, their names) comes from this one item, so
  // the preview can never name one image and show another's.
  select(item) {
    this.#cancel();
    this.source = item;
    const { name } = fileInfo(item);
    this.panel.hidden = false;
    this.title.textContent = `Preview on ${name}`;
    this.original.src = item.view_url || item.original_url;
    this.original.alt = `${name}, original`;
    this.original.width = item.width;
    this.original.height = item.height;
    this.#showStored();
    this.settingsChanged();
  }

  // When the previewed image is deleted, previews move to the newest one left, if any.
  imageDeleted(deleted, newest) {
    if (this.source?.id !== deleted.id) return;
    this.#cancel();
    this.source = null;
    if (newest) this.select(newest);
    else this.panel.hidden = true;
  }

  settingsChanged() {
    if (!this.source) return;
    // Marks, not test hooks: they let anyone measure change-to-preview in the browser.
    performance.mark("canny-setting-changed");
    this.actions.hidden = sameParams(this.settings.read(), this.source.params);
    if (this.timer !== null) return; // the pending run reads the newest settings
    const wait = Math.max(0, this.lastStart + this.interval - performance.now());
    this.timer = setTimeout(() => this.#run(), wait);
  }

  async #run() {
    this.timer = null;
    const params = this.settings.read();
    if (sameParams(params, this.source.params)) {
      this.#cancel();
      this.#showStored();
      return;
    }
    if (this.shown && sameParams(params, this.shown) && !this.controller) return;
    // A newer position supersedes the request on its way: it is aborted, not awaited.
    if (this.controller) {
      this.controller.abort();
      const unfinished = (performance.now() - this.lastStart) * WIDEN_AFTER_CANCEL;
      this.interval = Math.min(MAX_INTERVAL_MS, Math.max(this.interval, unfinished));
    }
    const controller = new AbortController();
    this.controller = controller;
    const source = this.source;
    const started = performance.now();
    this.lastStart = started;
    this.note.textContent = `Finding edges with ${describeParams(params)}…`;
    let bitmap;
    try {
      bitmap = await createImageBitmap(await previewEdges(source.id, params, controller.signal));
    } catch (error) {
      if (error.name === "AbortError") return;
      if (this.controller === controller) {
        this.controller = null;
        this.note.textContent = `Could not update the preview: ${error.message}`;
      }
      return;
    }
    if (this.controller !== controller) return;
    this.controller = null;
    this.#draw(bitmap);
    const elapsed = performance.now() - started;
    this.interval = Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, elapsed));
    this.#shown(params);
    performance.mark("canny-preview-shown");
  }

  // The stored result's own edges: what the settings of the selected image give.
  async #showStored() {
    const source = this.source;
    this.#shown(source.params);
    try {
      const bitmap = await createImageBitmap(await edgeImage(source));
      if (this.source === source && sameParams(this.shown, source.params)) this.#draw(bitmap);
    } catch (error) {
      this.note.textContent = `Could not show the edges: ${error.message}`;
    }
  }

  #draw(bitmap) {
    this.edges.width = bitmap.width;
    this.edges.height = bitmap.height;
    this.edges.getContext("2d").drawImage(bitmap, 0, 0);
    bitmap.close();
  }

  #shown(params) {
    this.shown = params;
    const { name } = fileInfo(this.source);
    this.edges.setAttribute("aria-label", `Edges of ${name} with ${describeParams(params)}`);
    this.edges.dataset.params = describeParams(params);
    this.note.textContent = sameParams(params, this.source.params)
      ? `Edges with ${describeParams(params)}, as in the gallery.`
      : `Edges with ${describeParams(params)}. Keep adds them to the gallery.`;
  }

  #cancel() {
    clearTimeout(this.timer);
    this.timer = null;
    this.controller?.abort();
    this.controller = null;
  }

  async #keep() {
    const params = this.settings.read();
    this.#cancel();
    const kept = await this.onKeep(this.source, params);
    if (kept) this.select(kept);
  }

  #discard() {
    this.#cancel();
    // Focus moves first: the buttons hide once the settings are back.
    this.settings.focus();
    this.settings.set(this.source.params);
    this.#showStored();
    this.actions.hidden = true;
    announce(`Preview discarded; settings back to ${describeParams(this.source.params)}.`);
  }
}
