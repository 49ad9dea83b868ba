/**
 * Owns the "Your photo in every style" grid: one card per fixed style and per preset of a painting
 * style, each showing the person's own photo restyled small by the server, filled in as it arrives.
 * Reports a click on a card through bindPick(handler).
 *
 * Only the featured cards (each fixed style, each painting style's first preset: what the gateway
 * marks `featured`) are asked for at once. The others sit under "More looks" and are asked for when
 * the person opens it and the card scrolls into view, never while the person's own restyle runs
 * (setPaused): each costs the server about as much as a featured one, and there are dozens.
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
 * @property {boolean} featured shown and asked for at once; the others wait under "More looks"
 * @property {string} url its preview at strength 1
 */

/**
 * The grid's cards: every preview the gateway offers for the photo whose style the page knows.
 * @param {import("./api.js").Preview[]} previews
 * @param {Style[]} styles
 * @param {(style: Style) => boolean} mixesPixels
 * @returns {Choice[]}
 */
export function choicesOf(previews, styles, mixesPixels) {
  /** @type {Choice[]} */
  const choices = [];
  for (const preview of previews) {
    const style = styles.find((s) => s.id === preview.style);
    if (style) {
      choices.push({ style, presetId: preview.preset, name: preview.name, pixelMix: mixesPixels(style),
                     featured: preview.featured !== false, url: preview.url });
    }
  }
  return choices;
}

// A preview that failed (a server restarting or busy, a hung one given up on) is asked for again while
// its card still wants it: after these waits, in ms, then no more.
export const RETRY_WAITS_MS = [3000, 10000, 30000];

/** @param {HTMLElement} img @returns {boolean} whether it sits under a closed disclosure ("More looks") */
function folded(img) {
  return img.closest("details:not([open])") !== null;
}

/** @param {HTMLImageElement} img @returns {string | null} the URL it shows or will show once seen */
function wanted(img) {
  return img.dataset.src ?? img.getAttribute("src");
}

export class PreviewsView {
  constructor() {
    this.section = byId("previews");
    this.grid = byId("preview-grid");
    this.more = /** @type {HTMLDetailsElement} */ (byId("more-previews"));
    this.moreGrid = byId("more-preview-grid");
    this.moreSummary = byId("more-previews-summary");
    this.status = byId("previews-status");
    /** @type {Choice[]} */
    this.choices = [];
    this.generation = 0;  // counts refreshes, so that an old one does not load its rest late
    this.paused = false;  // the person's own restyle runs: waiting previews wait
    this.leading = false;  // the preview the person looks at is being made: the others wait for it
    /** @type {Set<Element>} preview images on screen now (or nearly) */
    this.seen = new Set();
    /** @type {WeakMap<HTMLImageElement, {url: string, tries: number}>} failed previews asked for again */
    this.retried = new WeakMap();
    // A card inside the closed "More looks" is not laid out, so it is never seen until it opens.
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (entry.isIntersecting) this.seen.add(entry.target);
        else this.seen.delete(entry.target);
      }
      this.pump();
    }, { rootMargin: "200px 0px" });
    // Each preview announces itself when it arrives; the count tells the person how far it is.
    on(this.section, "load", (event) => this.arrived(/** @type {HTMLElement} */ (event.target)), { capture: true });
    on(this.section, "error", (event) => this.arrived(/** @type {HTMLElement} */ (event.target), true), { capture: true });
    on(this.more, "toggle", () => this.count());
  }

  /** @param {(choice: Choice) => void} handler called when the person clicks a card */
  bindPick(handler) {
    on(this.section, "click", (event) => {
      const card = /** @type {HTMLElement} */ (event.target).closest("button[data-choice]");
      if (card) handler(this.choices[Number(card.getAttribute("data-choice"))]);
    });
  }

  /**
   * Shows every card of the photo and starts the featured previews; the others wait to be seen. While
   * the person's own restyle runs (setPaused; after a reload too, as it is followed again) the featured
   * ones wait as well, asked for once it has ended.
   * @param {Choice[]} choices
   * @param {(choice: Choice) => string} urlOf the preview's URL
   * @param {string} photoUrl the photo, under the pixel-mix previews (their opacity is the strength)
   */
  render(choices, urlOf, photoUrl) {
    this.observer.disconnect();
    this.seen.clear();
    this.choices = choices;
    const cards = choices.map((choice, index) => ({ choice, index }));
    const rest = cards.filter(({ choice }) => !choice.featured);
    this.grid.innerHTML = cards.filter(({ choice }) => choice.featured)
      .map(({ choice, index }) => previewCard(choice, index, urlOf(choice), photoUrl, this.paused)).join("");
    this.moreGrid.innerHTML = rest.map(({ choice, index }) => previewCard(choice, index, urlOf(choice), photoUrl, true)).join("");
    this.moreSummary.textContent = `More looks (${rest.length})`;
    show(rest.length > 0, this.more);
    for (const img of this.section.querySelectorAll("img[data-preview]")) this.observer.observe(img);
    show(choices.length > 0, this.section);
    this.count();
  }

  /**
   * Previews of choices that depend on the server's strength or scale are asked for again: the one
   * the person is looking at at once and alone (so the server works on it alone, even during a
   * restyle), then the others that are on screen; those off screen, or under a closed "More looks"
   * (the chosen one too), when they are next seen. Until then their cards wait, not ready.
   * @param {(choice: Choice) => boolean} which
   * @param {(choice: Choice) => string} urlOf
   * @param {(choice: Choice) => boolean} [first] the choice the person is looking at
   */
  refresh(which, urlOf, first = () => false) {
    const generation = ++this.generation;
    /** @type {Promise<unknown>[]} */
    const leads = [];
    this.choices.forEach((choice, index) => {
      const img = this.image(index);
      if (!img || !which(choice) || wanted(img) === urlOf(choice)) return;
      this.wait(img, urlOf(choice));
      if (first(choice) && !folded(img)) leads.push(this.load(img));
    });
    this.leading = leads.length > 0;
    // Without a lead the cards on screen are asked for now, so the count never says they wait to be seen.
    if (this.leading) this.count();
    else this.pump();
    Promise.all(leads).then(() => {
      if (generation !== this.generation) return;  // the slider moved again meanwhile
      this.leading = false;
      this.pump();
    });
  }

  /** @param {boolean} paused true while the person's own restyle runs: waiting previews wait */
  setPaused(paused) {
    this.paused = paused;
    this.pump();
  }

  /** Asks for every waiting preview that is on screen, unless a restyle or the chosen preview runs; counts. */
  pump() {
    if (!this.paused && !this.leading) {
      for (const img of this.seen) {
        if (/** @type {HTMLImageElement} */ (img).dataset.src) this.load(/** @type {HTMLImageElement} */ (img));
      }
    }
    this.count();  // also when they wait: the count says what they wait for
  }

  /**
   * Marks a card as waiting for a new preview, asked for once it is seen (or leads, see refresh).
   * @param {HTMLImageElement} img
   * @param {string} url the preview it should show
   */
  wait(img, url) {
    img.dataset.src = url;
    const card = img.closest(".preview-card");
    card?.classList.remove("is-loading", "is-failed");
    card?.classList.add("is-pending");
  }

  /**
   * @param {HTMLImageElement} img a preview whose data-src holds the URL to ask for
   * @returns {Promise<unknown>} settles when it is drawn (or failed)
   */
  load(img) {
    const card = img.closest(".preview-card");
    card?.classList.remove("is-pending");
    card?.classList.add("is-loading");
    img.src = /** @type {string} */ (img.dataset.src);
    delete img.dataset.src;
    return img.decode().catch(() => undefined);
  }

  /** @param {number} index @returns {HTMLImageElement | null} the preview image of a card */
  image(index) {
    return this.section.querySelector(`img[data-preview="${index}"]`);
  }

  /** @param {number} strength 0 to 1: the opacity of pixel-mix previews over the photo */
  setMix(strength) {
    this.section.style.setProperty("--mix", String(strength));
  }

  /** @param {string} message why there are no previews */
  showProblem(message) {
    this.clear();
    this.grid.setAttribute("aria-busy", "false");
    this.status.textContent = `No previews: ${message}`;
    show(true, this.section);
  }

  hide() {
    this.clear();
    show(false, this.section);
  }

  clear() {
    this.observer.disconnect();
    this.seen.clear();
    this.choices = [];
    this.grid.innerHTML = "";
    this.moreGrid.innerHTML = "";
    show(false, this.more);
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
    if (failed) this.retryLater(/** @type {HTMLImageElement} */ (img));
  }

  /**
   * Asks for a failed preview again after the next of RETRY_WAITS_MS, if its card still wants that very
   * preview then (no new strength or scale gave it another, no new photo redrew the grid); like any
   * waiting card it is asked for once it is seen and no restyle runs.
   * @param {HTMLImageElement} img
   */
  retryLater(img) {
    const url = img.getAttribute("src");
    if (!url) return;
    const before = this.retried.get(img);
    const tries = before?.url === url ? before.tries : 0;
    if (tries >= RETRY_WAITS_MS.length) return;
    this.retried.set(img, { url, tries: tries + 1 });
    setTimeout(() => {
      if (!img.isConnected || wanted(img) !== url || !img.closest(".is-failed")) return;
      this.wait(img, url);
      this.pump();
    }, RETRY_WAITS_MS[tries]);
  }

  /**
   * Says how many of the cards shown are ready: neither being made, nor waiting to be asked for, nor
   * failed (a failed one is named apart, so a missing preview never passes for a made one).
   * Cards under a closed "More looks" are not counted: the count names only what the person sees.
   * It reads as work going on ("…") only while a preview is being made; cards that wait to be
   * scrolled to, or for the person's restyle to end, are named as waiting for that.
   */
  count() {
    const cards = [...this.grid.querySelectorAll(".preview-card"),
                   ...(this.more.open ? this.moreGrid.querySelectorAll(".preview-card") : [])];
    const making = cards.filter((card) => card.matches(".is-loading")).length;
    const later = cards.filter((card) => card.matches(".is-pending"));
    const failed = cards.filter((card) => card.matches(".is-failed")).length;
    const ready = cards.length - making - later.length - failed;
    const text = this.summary(ready, cards.length, making, later) + (failed ? ` ${failed} could not be made.` : "");
    this.grid.setAttribute("aria-busy", String(making > 0));
    if (this.status.textContent !== text) this.status.textContent = text;  // a live region: say each change once
  }

  /**
   * @param {number} ready
   * @param {number} total
   * @param {number} making previews being made now
   * @param {Element[]} later cards whose previews are not asked for yet
   * @returns {string} e.g. "3 of 10 previews ready…", "3 of 10 previews ready; more as you scroll."
   */
  summary(ready, total, making, later) {
    if (making) return `${ready} of ${total} previews ready…`;
    if (!later.length) return `${ready} ${ready === 1 ? "preview" : "previews"} ready.`;
    const onScreen = later.some((card) => this.seen.has(/** @type {Element} */ (card.querySelector("img[data-preview]"))));
    const more = this.paused && onScreen ? "more once your restyle is done" : "more as you scroll";
    return `${ready} of ${total} previews ready; ${more}.`;
  }
}
