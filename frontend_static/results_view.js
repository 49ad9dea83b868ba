/**
 * Owns the "Your results" panel: the list of the visit's results, and two of them compared side by
 * side or with a before/after slider. Reports what the person does through bindX(handler) callbacks.
 */

import { byId, on, show } from "./dom.js";
import { downloadName, photoLabels, photoOf } from "./photo_names.js";
import { resultCaption, resultItem, resultStyle } from "./template.js";

/** @typedef {import("./store.js").Result} Result */

export class ResultsView {
  constructor() {
    this.section = byId("results");
    this.list = byId("results-list");
    this.pair = byId("pair");
    this.pairHint = byId("pair-hint");
    this.side = byId("pair-side");
    this.slider = byId("pair-slider");
    this.range = /** @type {HTMLInputElement} */ (byId("pair-range"));
    this.modes = /** @type {HTMLInputElement[]} */ ([...document.querySelectorAll('input[name="pair-mode"]')]);
    /** @type {string[]} ids ticked for comparison, oldest tick first */
    this.picked = [];
    /** @type {WeakMap<Element, string>} each item of the list, and the HTML it was made from */
    this.drawn = new WeakMap();
    /** @type {Result[]} */
    this.results = [];
    /** @type {(id: string) => string} the best URL to show a result with */
    this.urlOf = () => "";
    /** @type {(result: Result) => string | null} its photo's URL, when the page still has it */
    this.photoOf = () => null;
    on(this.range, "input", () => this.setDivider(Number(this.range.value)));
    for (const mode of this.modes) on(mode, "change", () => this.renderPair());
    on(this.list, "change", (event) => this.pick(/** @type {HTMLInputElement} */ (event.target)));
  }

  /** Whether the keyboard focus is in "Your results": a person comparing or reopening earlier results. */
  holdsFocus() {
    return this.section.contains(document.activeElement);
  }

  /** @param {(id: string) => void} handler called when the person asks to see a result on the stage */
  bindShow(handler) {
    on(this.list, "click", (event) => {
      const button = /** @type {HTMLElement} */ (event.target).closest("button[data-show]");
      if (button) handler(/** @type {string} */ (button.getAttribute("data-show")));
    });
  }

  /**
   * @param {Result[]} results newest first
   * @param {(id: string) => string} urlOf the URL to show a result's full image with
   * @param {(result: Result) => string | null} photoOf the URL of its photo, when the page has it
   */
  render(results, urlOf, photoOf) {
    this.results = results;
    this.urlOf = urlOf;
    this.photoOf = photoOf;
    this.picked = this.picked.filter((id) => results.some((r) => r.id === id));
    this.renderItems(results);
    show(results.length > 0, this.section);
    this.renderPair();
  }

  /**
   * Brings the list's items up to date, leaving in place each one that has not changed: a result
   * arriving (a batch's, say) must not take the focus from an item the person is on.
   * @param {Result[]} results newest first
   */
  renderItems(results) {
    const items = [...this.list.children];
    const unchanged = new Map(items.map((item) => [this.drawn.get(item), item]));
    const byResult = new Map(items.map((item) => [item.querySelector("[data-show]")?.getAttribute("data-show"), item]));
    const labels = photoLabels(results);
    results.forEach((result, index) => {
      // The tick is set below, so that ticking keeps the item.
      // The link is the gateway's file, at the strength it was made at: named as the stage names it.
      const html = resultItem(result, false, downloadName(result), labels?.get(photoOf(result)));
      let item = unchanged.get(html);
      if (!item) {
        const holder = document.createElement("template");
        holder.innerHTML = html.trim();
        const fresh = /** @type {Element} */ (holder.content.firstElementChild);
        // A listed result whose words changed (it is named by its photo once another photo's result is
        // listed) is rewritten in place, so that a control of it keeps the focus.
        const listed = byResult.get(result.id);
        item = listed && sameShape(listed, fresh) ? rewrite(listed, fresh) : fresh;
        this.drawn.set(item, html);
      }
      const there = this.list.children[index];
      if (there !== item) this.list.insertBefore(item, there || null);  // moving an item would blur it
      const box = /** @type {HTMLInputElement} */ (item.querySelector("input[data-pick]"));
      box.checked = this.picked.includes(result.id);
    });
    while (this.list.children.length > results.length) this.list.lastElementChild?.remove();
  }

  /**
   * Ticks or unticks a result for comparison; a third tick drops the oldest, so two stay ticked.
   * @param {HTMLInputElement} box
   */
  pick(box) {
    const id = box.getAttribute("data-pick");
    if (!id) return;
    this.picked = this.picked.filter((p) => p !== id);
    if (box.checked) this.picked.push(id);
    if (this.picked.length > 2) {
      const dropped = /** @type {string} */ (this.picked.shift());
      const other = /** @type {HTMLInputElement | null} */ (
        this.list.querySelector(`input[data-pick="${CSS.escape(dropped)}"]`));
      if (other) other.checked = false;
    }
    this.renderPair();
  }

  /** Shows the two ticked results, side by side or under the slider; a hint while fewer are ticked. */
  renderPair() {
    const [a, b] = this.picked.map((id) => this.results.find((r) => r.id === id));
    const ready = Boolean(a && b);
    show(ready, this.pair);
    show(!ready && this.results.length > 1, this.pairHint);
    if (!a || !b) return;
    const slider = this.modes.some((m) => m.checked && m.value === "slider");
    show(!slider, this.side);
    show(slider, this.slider);
    const labels = photoLabels(this.results);
    for (const [key, result] of /** @type {Array<[string, Result]>} */ ([["a", a], ["b", b]])) {
      const url = this.urlOf(result.id);
      const photo = this.photoOf(result);
      const label = labels?.get(photoOf(result));
      for (const where of ["pair", "pair-slider"]) {
        const img = /** @type {HTMLImageElement} */ (byId(`${where}-${key}`));
        if (img.getAttribute("src") !== url) img.src = url;
        img.alt = resultCaption(result, label);
        // A pixel-mix result is laid over its photo with its strength as opacity, as on the stage.
        img.style.setProperty("--mix", String(photo && result.pixelMix ? result.strength : 1));
      }
      const under = /** @type {HTMLImageElement} */ (byId(`pair-${key}-photo`));
      under.src = photo || url;
      byId(`pair-${key}-caption`).textContent = resultCaption(result, label);
      byId(`pair-tag-${key}`).textContent = label ? `${label} · ${resultStyle(result)}` : resultStyle(result);
    }
    const base = /** @type {HTMLImageElement} */ (byId("pair-slider-photo"));
    base.src = this.photoOf(a) || this.urlOf(a.id);
  }

  /** @param {number} percent position of the divider from the left */
  setDivider(percent) {
    this.slider.style.setProperty("--pos", `${percent}%`);
    this.range.setAttribute("aria-valuetext", `${percent}% first result, ${100 - percent}% second`);
  }
}

/**
 * Whether two elements have the same tags in the same places (so one can take the other's words).
 * @param {Element} a
 * @param {Element} b
 * @returns {boolean}
 */
function sameShape(a, b) {
  if (a.tagName !== b.tagName || a.childNodes.length !== b.childNodes.length) return false;
  return [...a.childNodes].every((node, i) => {
    const other = b.childNodes[i];
    if (node.nodeType !== other.nodeType) return false;
    return node.nodeType !== Node.ELEMENT_NODE || sameShape(/** @type {Element} */ (node), /** @type {Element} */ (other));
  });
}

/**
 * Gives `item` the attributes and text of `fresh`, which has its shape (sameShape), node by node.
 * @param {Element} item
 * @param {Element} fresh
 * @returns {Element} item
 */
function rewrite(item, fresh) {
  for (const { name } of [...item.attributes]) if (!fresh.hasAttribute(name)) item.removeAttribute(name);
  for (const { name, value } of [...fresh.attributes]) {
    if (item.getAttribute(name) !== value) item.setAttribute(name, value);
  }
  item.childNodes.forEach((node, i) => {
    const other = fresh.childNodes[i];
    if (node.nodeType === Node.ELEMENT_NODE) rewrite(/** @type {Element} */ (node), /** @type {Element} */ (other));
    else if (node.nodeValue !== other.nodeValue) node.nodeValue = other.nodeValue;
  });
  return item;
}
