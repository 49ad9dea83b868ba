/**
 * "What the critic sees": lays the style's critic maps over the result (docs/explain.md).
 *
 * The module builds its own controls below the result bar and its own overlay inside the compare
 * figure, so the rest of the page only calls `show(maps)` with a finished job's map URLs, and
 * `clear()` when the result goes away. Styles without a critic never get maps: the controls stay hidden.
 */

import { on, show } from "./dom.js";

/** @typedef {{ realism: string, gradcam: string }} MapUrls */

// The page's words for the critic's maps (docs/explain.md): what a person sees, not how it is computed.
const LEGENDS = {
  realism: "Red: this part looks like the real style. Blue: it looks like an imitation. White: hard to tell.",
  gradcam: "Red: the parts that make the result look most like the real style. Blue: parts that add nothing to it.",
};
const TITLE = "How convincing is the style?";
const CHOICES = [["realism", "Part by part"], ["gradcam", "What convinces most"]];
const ALTS = {
  realism: "Map of how convincing each part of the result looks",
  gradcam: "Map of the parts of the result that convince most",
};

/**
 * @param {Document} doc
 * @param {string} tag
 * @param {Record<string, string>} [attributes]
 * @param {string} [text]
 */
function make(doc, tag, attributes = {}, text = "") {
  const element = doc.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text) element.textContent = text;
  return element;
}

export class CriticView {
  /**
   * @param {HTMLElement} figure the compare figure the overlay goes into
   * @param {HTMLElement} after the element the controls follow (the result bar)
   */
  constructor(figure, after) {
    const doc = figure.ownerDocument;
    /** @type {MapUrls | null} */
    this.maps = null;
    this.figure = figure;
    this.overlay = /** @type {HTMLImageElement} */ (make(doc, "img", {
      class: "critic-overlay", id: "critic-overlay", alt: "", hidden: "" }));
    figure.append(this.overlay);
    this.panel = make(doc, "fieldset", { class: "critic", id: "critic", hidden: "" });
    this.panel.append(make(doc, "legend", { class: "critic__title" }, TITLE));
    const toggleLabel = make(doc, "label", { class: "switch" });
    this.toggle = /** @type {HTMLInputElement} */ (make(doc, "input", {
      type: "checkbox", id: "critic-toggle", role: "switch", "aria-controls": "critic-overlay" }));
    toggleLabel.append(this.toggle, make(doc, "span", {}, "Show the map over the result"));
    this.choices = make(doc, "div", { class: "critic__choices", role: "radiogroup", "aria-label": "Map" });
    /** @type {HTMLInputElement[]} */
    this.radios = [];
    for (const [value, text] of CHOICES) {
      const label = make(doc, "label", { class: "critic__choice" });
      const radio = /** @type {HTMLInputElement} */ (make(doc, "input", {
        type: "radio", name: "critic-map", value, id: `critic-map-${value}` }));
      radio.checked = value === "realism";
      this.radios.push(radio);
      label.append(radio, make(doc, "span", {}, text));
      this.choices.append(label);
    }
    const opacityLabel = make(doc, "label", { class: "critic__opacity", for: "critic-opacity" }, "Opacity");
    this.opacity = /** @type {HTMLInputElement} */ (make(doc, "input", {
      type: "range", id: "critic-opacity", min: "0", max: "100", step: "5", value: "60" }));
    opacityLabel.append(this.opacity);
    this.legend = make(doc, "p", { class: "critic__legend small", id: "critic-legend", "aria-live": "polite" });
    this.legendBar = make(doc, "div", { class: "critic__scale", "aria-hidden": "true" });
    this.legendBar.append(make(doc, "span", {}, "blue"), make(doc, "span", {}, "white"), make(doc, "span", {}, "red"));
    this.panel.append(toggleLabel, this.choices, opacityLabel, this.legendBar, this.legend);
    after.after(this.panel);
    for (const input of [this.toggle, ...this.radios]) on(input, "change", () => this.render());
    on(this.opacity, "input", () => this.render());
    this.render();
  }

  /** @returns {"realism" | "gradcam"} */
  get chosen() {
    return /** @type {"realism" | "gradcam"} */ (this.radios.find((r) => r.checked)?.value || "realism");
  }

  /**
   * Offers the maps of a finished result; none (a style without a critic) hides the controls.
   * @param {MapUrls | undefined | null} maps
   */
  show(maps) {
    this.maps = maps && maps.realism && maps.gradcam ? maps : null;
    this.render();
  }

  /** Forgets the maps (a new photo, style or restyle). */
  clear() {
    this.show(null);
  }

  render() {
    const shown = Boolean(this.maps) && this.toggle.checked;
    show(Boolean(this.maps), this.panel);
    show(shown, this.overlay);
    for (const element of [...this.radios, this.opacity]) element.disabled = !shown;
    this.legend.textContent = LEGENDS[this.chosen];
    this.figure.style.setProperty("--critic-opacity", String(Number(this.opacity.value) / 100));
    if (shown && this.maps) {
      const url = this.maps[this.chosen];
      if (this.overlay.getAttribute("src") !== url) this.overlay.src = url;
      this.overlay.alt = ALTS[this.chosen];
    }
  }
}
