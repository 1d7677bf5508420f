// The gallery: newest first, original and edge map side by side, paged with "Load more".

import { deleteImage, listImages } from "./api.js";

const PAGE_SIZE = 12;

function describe(params) {
  return `low ${params.low}, high ${params.high}, blur ${params.blur}`;
}

export class Gallery {
  constructor({ list, emptyNote, loadMoreButton, heading, onRerun, onError }) {
    Object.assign(this, { list, emptyNote, loadMoreButton, heading, onRerun, onError });
    this.next = null;
    loadMoreButton.addEventListener("click", () => this.loadMore());
  }

  async loadMore() {
    this.loadMoreButton.disabled = true;
    try {
      const page = await listImages(this.next, PAGE_SIZE);
      for (const item of page.items) {
        if (!this.#card(item.id)) this.list.append(this.#render(item));
      }
      this.next = page.next;
    } catch (error) {
      this.onError(`Could not load the gallery: ${error.message}`);
    } finally {
      this.loadMoreButton.disabled = false;
      this.#refresh();
    }
  }

  // A new or recomputed result goes to the top; an identical one already shown moves there.
  showFirst(item) {
    this.#card(item.id)?.remove();
    this.list.prepend(this.#render(item));
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
    const card = document.createElement("li");
    card.className = "card";
    card.dataset.id = item.id;
    const shortId = item.id.slice(0, 8);

    const pair = document.createElement("div");
    pair.className = "pair";
    pair.append(
      // view_url is a PNG rendition for originals browsers cannot show (TIFF);
      // results stored before it existed have only original_url.
      this.#figure(item.view_url || item.original_url, `Original image ${shortId}`, "Original", item),
      this.#figure(item.edges_url, `Edge map of image ${shortId} (${describe(item.params)})`, "Edges", item),
    );

    const meta = document.createElement("p");
    meta.className = "meta";
    meta.id = `meta-${item.id}`;
    meta.textContent = `${item.width} × ${item.height} px · ${describe(item.params)}`;

    const actions = document.createElement("div");
    actions.className = "actions";
    const rerun = this.#button("Re-run with current settings", `Re-run image ${shortId} with the current settings`);
    rerun.addEventListener("click", () => this.onRerun(item));
    const download = document.createElement("a");
    download.className = "button";
    download.href = item.edges_url;
    download.download = `${shortId}-edges.png`;
    download.textContent = "Download edges";
    download.setAttribute("aria-label", `Download the edge map of image ${shortId}`);
    const remove = this.#button("Delete", `Delete image ${shortId}`);
    remove.classList.add("danger");
    remove.addEventListener("click", () => this.#delete(item, card));
    actions.append(rerun, download, remove);

    card.append(pair, meta, actions);
    return card;
  }

  #figure(src, alt, caption, item) {
    const figure = document.createElement("figure");
    const image = document.createElement("img");
    image.src = src;
    image.alt = alt;
    image.width = item.width;
    image.height = item.height;
    image.loading = "lazy";
    const text = document.createElement("figcaption");
    text.textContent = caption;
    figure.append(image, text);
    return figure;
  }

  #button(text, label) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button";
    button.textContent = text;
    button.setAttribute("aria-label", label);
    return button;
  }

  async #delete(item, card) {
    try {
      await deleteImage(item.id);
    } catch (error) {
      if (error.status !== 404) {
        this.onError(`Could not delete the image: ${error.message}`);
        return;
      }
    }
    // Keyboard users keep their place: focus moves to the next card, or the heading.
    const nextFocus = card.nextElementSibling?.querySelector("button") ?? this.heading;
    card.remove();
    this.#refresh();
    nextFocus.focus();
  }
}
