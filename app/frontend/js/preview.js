// Live preview: after the first upload, a moved slider re-runs the selected image on the
// server (debounced) and shows the result here, to keep in the gallery or discard.

import { deleteImage, rerunImage } from "./api.js";
import { announce } from "./announcer.js";
import { describeParams, fileInfo, rememberName } from "./names.js";

const DEBOUNCE_MS = 250;
const byId = (id) => document.getElementById(id);

export class Preview {
  constructor({ settings, gallery, onError }) {
    Object.assign(this, { settings, gallery, onError });
    this.panel = byId("preview");
    this.note = byId("preview-note");
    this.image = byId("preview-image");
    this.keepButton = byId("preview-keep");
    this.discardButton = byId("preview-discard");
    this.source = null;
    this.result = null;
    this.timer = null;
    this.sequence = 0;
    this.keepButton.addEventListener("click", () => this.#keep());
    this.discardButton.addEventListener("click", () => this.#discard());
  }

  // The image new settings are tried on: the newest upload or the last one re-run.
  select(item) {
    this.source = item;
    this.panel.hidden = false;
    byId("preview-title").textContent = `Preview on ${fileInfo(item).name}`;
  }

  // A deleted preview result is not deleted twice; when the selected image was deleted,
  // previews move to the newest one left, if any.
  imageDeleted(deleted, newest) {
    if (this.result?.id === deleted.id) {
      this.result = null;
      this.#reset();
    }
    if (this.source?.id !== deleted.id) return;
    clearTimeout(this.timer);
    this.sequence += 1; // a preview still on its way is for an image that is gone
    this.#forgetUnkept();
    this.#reset();
    this.source = null;
    if (newest) this.select(newest);
    else this.panel.hidden = true;
  }

  settingsChanged() {
    if (!this.source) return;
    // Marks, not test hooks: they let anyone measure change-to-preview in the browser.
    performance.mark("canny-setting-changed");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#run(), DEBOUNCE_MS);
  }

  async #run() {
    const sequence = ++this.sequence;
    const params = this.settings.read();
    this.note.textContent = `Finding edges with ${describeParams(params)}…`;
    let result;
    try {
      result = await rerunImage(this.source.id, params);
    } catch (error) {
      if (sequence === this.sequence) this.onError(`Could not update the preview: ${error.message}`);
      return;
    }
    await this.#forgetUnkept();
    this.result = result;
    if (sequence !== this.sequence) return; // a later change is on its way; it replaces this
    const { name, bytes } = fileInfo(this.source);
    rememberName(result.id, name, bytes);
    this.image.alt = `Edges of ${name} with ${describeParams(result.params)}`;
    this.image.src = result.edges_url;
    await this.image.decode().catch(() => {});
    if (sequence !== this.sequence) return;
    this.image.hidden = false;
    this.image.dataset.id = result.id;
    performance.mark("canny-preview-shown");
    this.note.textContent = `Edges with ${describeParams(result.params)}.`;
    this.keepButton.disabled = false;
    this.discardButton.disabled = false;
    announce(`Preview ready: ${describeParams(result.params)}.`);
  }

  #keep() {
    const item = this.result;
    this.result = null;
    this.gallery.showResult(item, {
      focus: true,
      message: `${fileInfo(item).name} kept with ${describeParams(item.params)}.`,
    });
    this.#reset();
  }

  async #discard() {
    this.settings.set(this.source.params);
    byId("low").focus();
    this.#reset();
    await this.#forgetUnkept();
    announce(`Preview discarded; settings back to ${describeParams(this.source.params)}.`);
  }

  // A preview the server computed just for us, and that nobody kept, is deleted again.
  async #forgetUnkept() {
    const unkept = this.result;
    this.result = null;
    if (!unkept || unkept.cached || this.gallery.has(unkept.id)) return;
    try {
      await deleteImage(unkept.id);
    } catch {
      // already gone, or the server is away: it only stays as an unlisted result
    }
  }

  #reset() {
    this.image.hidden = true;
    this.image.removeAttribute("src");
    delete this.image.dataset.id;
    this.note.textContent = "Move a setting to see its result here.";
    // Disabled until the next preview; #keep and #discard move focus away first.
    this.keepButton.disabled = true;
    this.discardButton.disabled = true;
  }
}
