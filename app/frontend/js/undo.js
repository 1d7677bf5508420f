// "Undo" after a delete: the card goes at once, the delete itself is only sent when the
// bar times out, another delete replaces it, or the page is left.

import { announce } from "./announcer.js";

const UNDO_MS = 8000;
const byId = (id) => document.getElementById(id);

export class UndoBar {
  constructor() {
    this.bar = byId("undo-bar");
    this.text = byId("undo-text");
    this.button = byId("undo-button");
    this.pending = null;
    this.button.addEventListener("click", () => this.#undo());
    // Leaving the page sends what is pending: the user did not undo it.
    window.addEventListener("pagehide", () => this.#commit({ leaving: true }));
  }

  // offer(text, {undo, commit, focusAfter}): undo() puts things back; commit({leaving})
  // does the delete; focusAfter() says where focus goes if it was on the bar.
  offer(text, action) {
    this.#commit({ leaving: false });
    this.pending = { ...action, timer: setTimeout(() => this.#commit({ leaving: false }), UNDO_MS) };
    this.text.textContent = text;
    this.bar.hidden = false;
    this.button.focus();
    announce(`${text} Undo is available for a few seconds.`);
  }

  #undo() {
    const action = this.#take();
    action?.undo();
  }

  #commit({ leaving }) {
    const action = this.#take();
    if (action) action.commit({ leaving });
  }

  #take() {
    const action = this.pending;
    if (!action) return null;
    this.pending = null;
    clearTimeout(action.timer);
    const hadFocus = this.bar.contains(document.activeElement);
    this.bar.hidden = true;
    if (hadFocus) action.focusAfter().focus();
    return action;
  }
}
