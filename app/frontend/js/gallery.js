// The gallery: newest first as the server lists it (creation time, then id), original and
// edges side by side, paged with "Load more".

import { deleteImage, listImages } from "./api.js";
import { announce } from "./announcer.js";
import { labelled, labelledButton } from "./controls.js";
import { formatBytes } from "./limits.js";
import { describeParams, downloadName, fileInfo, forgetName, paramsChange } from "./names.js";

const PAGE_SIZE = 12;
const HIGHLIGHT_MS = 2500;

// The server's list order (storage/contract.py, sort_key): created_at is fixed-width
// ISO 8601 in UTC, so the text sorts like the time.
const orderKey = (item) => `${item.created_at}|${item.id}`;

export class Gallery {
  constructor({ list, emptyNote, loadMoreButton, heading, undoBar, onRerun, onOpen, onDeleted, onError }) {
    Object.assign(this, { list, emptyNote, loadMoreButton, heading, undoBar, onRerun, onOpen, onDeleted, onError });
    this.defaults = null;
    this.items = new Map(); // id -> the API's record, for the cards on the page
    this.next = null;
    this.loading = false;
    loadMoreButton.addEventListener("click", () => this.loadMore());
  }

  newest() {
    return this.items.get(this.list.firstElementChild?.dataset.id) ?? null;
  }

  // The card `delta` places after (or before) this item's, for the viewer's next/previous.
  neighbour(item, delta) {
    const cards = [...this.list.children];
    const index = cards.findIndex((card) => card.dataset.id === item.id);
    return index < 0 ? null : (this.items.get(cards[index + delta]?.dataset.id) ?? null);
  }

  // The button is never disabled while it has focus (that would drop focus to <body>):
  // it says it is busy with aria-disabled and ignores clicks until the page is in.
  async loadMore() {
    if (this.loading) return;
    this.loading = true;
    this.loadMoreButton.setAttribute("aria-disabled", "true");
    const before = this.list.children.length;
    try {
      const page = await listImages(this.next, PAGE_SIZE);
      for (const item of page.items) {
        if (!this.#card(item.id)) this.list.append(this.#render(item));
      }
      this.next = page.next;
      if (before > 0) announce(`${this.list.children.length - before} more images shown.`);
    } catch (error) {
      this.onError(`Could not load the gallery: ${error.message}`);
    } finally {
      this.loading = false;
      this.loadMoreButton.removeAttribute("aria-disabled");
      const hadFocus = document.activeElement === this.loadMoreButton;
      this.#refresh();
      // On the last page the button hides: focus moves to the first image it brought.
      if (hadFocus && this.loadMoreButton.hidden) {
        (this.list.children[before]?.querySelector("h3") ?? this.heading).focus();
      }
    }
  }

  // A result takes its place in the server's order, so a reload shows the same order; a
  // result already shown stays where it is. The page does not scroll for it: only with
  // `focus` (Keep, Re-run) does its card take focus, which brings it into view.
  showResult(item, { focus = false, message = "" } = {}) {
    let card = this.#card(item.id);
    if (!card) {
      card = this.#render(item);
      this.#insert(card);
    }
    card.classList.add("highlight");
    setTimeout(() => card.classList.remove("highlight"), HIGHLIGHT_MS);
    if (focus) card.querySelector("h3").focus();
    if (message) announce(message);
  }

  #insert(card) {
    const key = orderKey(this.items.get(card.dataset.id));
    const later = [...this.list.children].find((each) => orderKey(this.items.get(each.dataset.id)) < key);
    this.list.insertBefore(card, later ?? null);
    this.#refresh();
  }

  #card(id) {
    return [...this.list.children].find((card) => card.dataset.id === id);
  }

  #refresh() {
    this.emptyNote.hidden = this.list.children.length > 0;
    this.loadMoreButton.hidden = !this.next;
  }

  #render(item) {
    const { name, bytes } = fileInfo(item);
    const card = document.createElement("li");
    card.className = "card";
    card.dataset.id = item.id;
    this.items.set(item.id, item);

    const title = document.createElement("h3");
    title.className = "card-title";
    title.tabIndex = -1;
    // Re-runs of one photo differ in their settings: the title says how.
    const change = this.defaults ? paramsChange(item.params, this.defaults) : "";
    title.textContent = change ? `${name} · ${change}` : name;

    const pair = document.createElement("div");
    pair.className = "pair";
    pair.append(
      // view_url is a rendition for originals browsers cannot show;
      // results stored before it existed have only original_url.
      this.#figure(item.view_url || item.original_url, `${name}, original`, "Original", item),
      this.#figure(item.edges_url, `${name}, edges`, "Edges", item, "edge-ink"),
    );
    // Pointer users click the pictures; keyboard users have the "View full size" button.
    pair.addEventListener("click", () => this.onOpen(item, view));

    const meta = document.createElement("p");
    meta.className = "meta";
    const size = bytes ? ` · ${formatBytes(bytes)}` : "";
    meta.textContent = `${item.width} × ${item.height} px${size} · ${describeParams(item.params)}`;

    const actions = document.createElement("div");
    actions.className = "actions";
    const view = labelledButton("View full size", name);
    view.addEventListener("click", () => this.onOpen(item, view));
    const rerun = labelledButton("Re-run with current settings", `for ${name}`);
    rerun.addEventListener("click", () => this.onRerun(item));
    const download = labelled(document.createElement("a"), "Download edges", `of ${name}`);
    download.className = "button";
    download.href = item.edges_url;
    // Honoured for same-origin URLs only, which /results/ is (MDN, "download" attribute:
    // https://developer.mozilla.org/docs/Web/HTML/Element/a#download).
    download.download = downloadName(name, item.params);
    // Styled as a button, so it answers Space like one (Enter already follows a link).
    download.addEventListener("keydown", (event) => {
      if (event.key === " ") {
        event.preventDefault();
        download.click();
      }
    });
    const remove = labelledButton("Delete", name);
    remove.classList.add("danger");
    remove.addEventListener("click", () => this.#delete(item, card, name));
    actions.append(view, rerun, download, remove);

    card.append(title, pair, meta, actions);
    return card;
  }

  #figure(src, alt, caption, item, className = "") {
    const figure = document.createElement("figure");
    const image = document.createElement("img");
    image.className = className;
    image.src = src;
    image.alt = alt;
    image.width = item.width;
    image.height = item.height;
    image.loading = "lazy";
    const text = document.createElement("figcaption");
    text.textContent = caption;
    text.setAttribute("aria-hidden", "true");
    figure.append(image, text);
    return figure;
  }

  // The card goes at once; the delete is sent only when its "Undo" has expired.
  #delete(item, card, name) {
    const neighbour = card.nextElementSibling ?? card.previousElementSibling;
    card.remove();
    this.#refresh();
    this.onDeleted(item, this.newest());
    this.undoBar.offer(`${name} deleted.`, {
      undo: () => {
        this.#insert(card);
        card.querySelector("h3").focus();
        announce(`${name} restored.`);
      },
      commit: ({ leaving }) => this.#deleteNow(item, card, name, leaving),
      focusAfter: () => (neighbour?.isConnected ? neighbour.querySelector("h3") : this.heading),
    });
  }

  async #deleteNow(item, card, name, leaving) {
    try {
      await deleteImage(item.id, { keepalive: leaving });
    } catch (error) {
      if (error.status !== 404) {
        this.#insert(card);
        this.onError(`Could not delete ${name}: ${error.message}`);
        return;
      }
    }
    forgetName(item.id);
    this.items.delete(item.id);
  }
}
