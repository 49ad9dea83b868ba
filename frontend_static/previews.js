/**
 * Owns the "Your photo in every style" grid: one card per fixed style and per preset of a painting
 * style, each showing the person's own photo restyled small by the server, filled in as it arrives.
 * Reports a click on a card through bindPick(handler).
 */

import { byId, on, show } from "./dom.js";
import { previewCard } from "./template.js";

/** @typedef {import("./template.js").Style} Style */
/**
 * @typedef {object} Choice one card of the grid
 * @property {Style} style
 * @property {string | null} presetId
 * @property {string} name
 * @property {boolean} pixelMix whether its strength is mixed in the page (its preview is made at 1)
 * @property {string} url its preview at strength 1
 */

/**
 * The grid's cards: every look the gateway offers for the photo whose style the page knows.
 * @param {import("./api.js").Look[]} looks
 * @param {Style[]} styles
 * @param {(style: Style) => boolean} mixesPixels
 * @returns {Choice[]}
 */
export function choicesOf(looks, styles, mixesPixels) {
  /** @type {Choice[]} */
  const choices = [];
  for (const look of looks) {
    const style = styles.find((s) => s.id === look.style);
    if (style) choices.push({ style, presetId: look.preset, name: look.name, pixelMix: mixesPixels(style), url: look.url });
  }
  return choices;
}

export class PreviewsView {
  constructor() {
    this.section = byId("previews");
    this.grid = byId("preview-grid");
    this.status = byId("previews-status");
    /** @type {Choice[]} */
    this.choices = [];
    this.generation = 0;  // counts refreshes, so that an old one does not load its rest late
    // Each preview announces itself when it arrives; the count tells the person how far it is.
    on(this.grid, "load", (event) => this.arrived(/** @type {HTMLElement} */ (event.target)), { capture: true });
    on(this.grid, "error", (event) => this.arrived(/** @type {HTMLElement} */ (event.target), true), { capture: true });
  }

  /** @param {(choice: Choice) => void} handler called when the person clicks a card */
  bindPick(handler) {
    on(this.grid, "click", (event) => {
      const card = /** @type {HTMLElement} */ (event.target).closest("button[data-choice]");
      if (card) handler(this.choices[Number(card.getAttribute("data-choice"))]);
    });
  }

  /**
   * Starts every preview of the photo.
   * @param {Choice[]} choices
   * @param {(choice: Choice) => string} urlOf the preview's URL
   * @param {string} photoUrl the photo, under the pixel-mix previews (their opacity is the strength)
   */
  render(choices, urlOf, photoUrl) {
    this.choices = choices;
    this.grid.innerHTML = choices.map((choice, index) => previewCard(choice, index, urlOf(choice), photoUrl)).join("");
    this.grid.setAttribute("aria-busy", String(choices.length > 0));
    show(choices.length > 0, this.section);
    this.count();
  }

  /**
   * Loads the previews of choices that depend on the server's strength or scale again: the one the
   * person is looking at alone first (so the server works on it alone), then the others.
   * @param {(choice: Choice) => boolean} which
   * @param {(choice: Choice) => string} urlOf
   * @param {(choice: Choice) => boolean} [first] the choice the person is looking at
   */
  refresh(which, urlOf, first = () => false) {
    const stale = this.choices.map((choice, index) => ({ choice, index }))
      .filter(({ choice, index }) => which(choice) && this.image(index)?.getAttribute("src") !== urlOf(choice));
    const lead = stale.filter(({ choice }) => first(choice));
    const rest = stale.filter(({ choice }) => !first(choice));
    const load = (/** @type {{choice: Choice, index: number}[]} */ items) => items.map(({ choice, index }) => {
      const img = /** @type {HTMLImageElement} */ (this.image(index));
      img.closest(".preview-card")?.classList.add("is-loading");
      img.src = urlOf(choice);
      return img.decode().catch(() => undefined);
    });
    const generation = ++this.generation;
    const leading = Promise.all(load(lead));
    this.count();
    leading.then(() => {
      if (generation === this.generation) load(rest);  // unless the slider moved again meanwhile
      this.count();
    });
  }

  /** @param {number} index @returns {HTMLImageElement | null} the preview image of a card */
  image(index) {
    return this.grid.querySelector(`img[data-preview="${index}"]`);
  }

  /** @param {number} strength 0 to 1: the opacity of pixel-mix previews over the photo */
  setMix(strength) {
    this.grid.style.setProperty("--mix", String(strength));
  }

  /** @param {string} message why there are no previews */
  showProblem(message) {
    this.choices = [];
    this.grid.innerHTML = "";
    this.grid.setAttribute("aria-busy", "false");
    this.status.textContent = `No previews: ${message}`;
    show(true, this.section);
  }

  hide() {
    this.grid.innerHTML = "";
    show(false, this.section);
  }

  /**
   * @param {HTMLElement} img
   * @param {boolean} [failed]
   */
  arrived(img, failed = false) {
    if (!img.hasAttribute("data-preview")) return;
    const card = img.closest(".preview-card");
    card?.classList.remove("is-loading");
    card?.classList.toggle("is-failed", failed);
    this.count();
  }

  count() {
    const total = this.choices.length;
    const waiting = this.grid.querySelectorAll(".preview-card.is-loading").length;
    this.grid.setAttribute("aria-busy", String(waiting > 0));
    this.status.textContent = waiting ? `${total - waiting} of ${total} previews ready…` : `${total} previews ready.`;
  }
}
