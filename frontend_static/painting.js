/**
 * Owns the "Painting" part of the form (presets, your own painting, a mix of two) and the
 * keep-colours switch, and reports what the person does through bindX(handler) callbacks.
 */

import { byId, on, show } from "./dom.js";
import { presetCard, presetOption } from "./template.js";

/** @typedef {import("./template.js").Style} Style */

export class LookView {
  constructor() {
    this.section = byId("look");
    this.presetGrid = byId("preset-grid");
    this.zone = byId("painting-zone");
    this.paintingInput = /** @type {HTMLInputElement} */ (byId("painting-input"));
    this.paintingName = byId("painting-name");
    this.paintingError = byId("painting-error");
    this.hint = byId("look-hint");
    this.clearButton = byId("painting-clear");
    this.mixWith = /** @type {HTMLSelectElement} */ (byId("mix-with"));
    this.mix = /** @type {HTMLInputElement} */ (byId("mix"));
    this.mixValue = /** @type {HTMLOutputElement} */ (byId("mix-value"));
    this.keepColors = /** @type {HTMLInputElement} */ (byId("keep-colors"));
    this.inset = byId("painting-inset");
    this.insetImg = /** @type {HTMLImageElement} */ (byId("painting-inset-img"));
    this.insetCaption = byId("painting-inset-caption");
  }

  /**
   * Shows the painting controls for a conditioned style (and hides them for a fixed one).
   * @param {Style} style
   */
  renderFor(style) {
    const conditioned = style.kind === "conditioned";
    show(conditioned, this.section);
    if (!conditioned) return;
    const presets = style.presets || [];
    this.presetGrid.innerHTML = presets.map(presetCard).join("");
    this.mixWith.innerHTML = `<option value="">no second style</option>${presets.map(presetOption).join("")}`;
    this.mix.disabled = true;
    const ownPaintings = Boolean(style.accepts_style_images);
    show(ownPaintings, this.zone);
    this.hint.textContent = ownPaintings
      ? "This style paints like any picture: pick one below or use your own."
      : "Pick one of this style's paintings below, or mix two of them.";
    this.clearError();
  }

  /** @param {string} message why the chosen painting was refused, shown right under its drop zone */
  showError(message) {
    this.paintingError.textContent = message;
    show(true, this.paintingError);
  }

  clearError() {
    this.paintingError.textContent = "";
    show(false, this.paintingError);
  }

  /** @param {(presetId: string) => void} handler */
  bindPreset(handler) {
    on(this.presetGrid, "change", (event) => handler(/** @type {HTMLInputElement} */ (event.target).value));
  }

  /**
   * Calls handler with a painting picked, dropped on the zone, or pasted while the zone has focus.
   * @param {(file: File | null) => void} handler null when the person goes back to the presets
   */
  bindPainting(handler) {
    on(this.paintingInput, "change", () => {
      const file = this.paintingInput.files && this.paintingInput.files[0];
      this.paintingInput.value = "";  // as for the photo (view.js): a painting chosen again is reported again
      if (file) handler(file);
    });
    on(this.zone, "dragenter", () => this.zone.classList.add("is-dragging"));
    on(this.zone, "dragleave", () => this.zone.classList.remove("is-dragging"));
    on(this.zone, "drop", (/** @type {DragEvent} */ event) => {
      event.preventDefault();
      event.stopPropagation(); // the photo's drop handlers must not take it too
      this.zone.classList.remove("is-dragging");
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) handler(file);
    });
    // A paste while the zone has focus is a painting; anywhere else the page takes it as the photo.
    on(this.zone, "paste", (/** @type {ClipboardEvent} */ event) => {
      const file = event.clipboardData && [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
      if (!file) return;
      event.stopPropagation();
      event.preventDefault();
      handler(file);
    });
    on(this.clearButton, "click", () => handler(null));
  }

  /** @param {(presetId: string, share: number) => void} handler share of the second style, 0 to 1 */
  bindMix(handler) {
    const report = () => {
      this.showMixValue();
      handler(this.mixWith.value, Number(this.mix.value) / 100);
    };
    on(this.mixWith, "change", report);
    on(this.mix, "input", report);
  }

  /**
   * Shows a mix the controls hold, as for a style's look given back after renderFor.
   * @param {string} presetId the second style ("" for none)
   * @param {number} share its share, 0 to 1
   */
  showMix(presetId, share) {
    this.mixWith.value = presetId;
    this.mix.value = String(Math.round(share * 100));
    this.showMixValue();
  }

  showMixValue() {
    this.mix.disabled = !this.mixWith.value;
    this.mixValue.value = `${this.mix.value}%`;
    this.mix.setAttribute("aria-valuetext", `${this.mix.value}% of the second style`);
  }

  /** @param {(keep: boolean) => void} handler */
  bindKeepColors(handler) {
    on(this.keepColors, "change", () => handler(this.keepColors.checked));
  }

  /** @param {string} presetId */
  selectPreset(presetId) {
    const radio = /** @type {HTMLInputElement | null} */ (
      this.presetGrid.querySelector(`input[value="${CSS.escape(presetId)}"]`));
    if (radio) radio.checked = true;
  }

  /**
   * Shows in the controls whether the person's painting (not a preset) is the style.
   * @param {string | null} caption e.g. "Style: your painting (monet.jpg)"; null: a preset is the style
   */
  showPainting(caption) {
    const ownPainting = caption !== null;
    this.presetGrid.classList.toggle("is-overridden", ownPainting);
    // No preset is checked while the painting paints: one check mark, on what will be used.
    if (ownPainting) for (const radio of this.presetGrid.querySelectorAll("input:checked")) radio.checked = false;
    show(ownPainting, this.paintingName, this.clearButton);
    if (ownPainting) this.paintingName.textContent = caption;
    this.zone.classList.toggle("has-file", ownPainting);
  }

  /**
   * Shows a look beside the stage: the painting or preset preview of the result on it, or else the
   * one the controls will use.
   * @param {string | null} url the painting or the preset's preview; null hides the inset
   * @param {string} caption e.g. "Style: your painting (monet.jpg)"
   */
  showInset(url, caption) {
    if (!url) return show(false, this.inset);
    this.insetImg.src = url;
    this.insetImg.alt = caption;
    this.insetCaption.textContent = caption;
    show(true, this.inset);
  }

  /** @returns {boolean} */
  keepColorsNow() {
    return this.keepColors.checked;
  }

  /** @param {boolean} keep the switch's state, as kept before a reload */
  setKeepColors(keep) {
    this.keepColors.checked = keep;
  }
}
