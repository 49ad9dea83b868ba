/**
 * Owns the DOM: renders state, and reports what the person does through bindX(handler) callbacks.
 */

import { BRUSHES, brushChoice } from "./brushes.js";
import { byId, on, show } from "./dom.js";
import { imageSize, keptWhere, progressLabel, statusLine, styleCard, styleInfo } from "./template.js";

/** @typedef {import("./template.js").Style} Style */

// Images whose longest side is shorter are shown enlarged to this many CSS pixels.
const MIN_SHOWN_PX = 256;
// What the progress line says while a job's progress stream cannot reach the gateway.
const LOST_CONTACT = "Lost contact with the server; trying again…";

export class View {
  constructor() {
    this.form = /** @type {HTMLFormElement} */ (byId("controls"));
    this.fileInput = /** @type {HTMLInputElement} */ (byId("file-input"));
    this.dropzone = byId("dropzone");
    this.fileName = byId("file-name");
    this.hint = byId("dropzone-hint");
    this.styleGrid = byId("style-grid");
    this.styleInfo = byId("style-info");
    this.strength = /** @type {HTMLInputElement} */ (byId("strength"));
    this.strengthValue = /** @type {HTMLOutputElement} */ (byId("strength-value"));
    this.submit = /** @type {HTMLButtonElement} */ (byId("submit"));
    this.error = byId("error");
    this.fileError = byId("file-error");
    this.stageError = byId("stage-error");
    this.announcer = byId("announcer");
    this.stage = byId("stage");
    this.empty = byId("stage-empty");
    this.compare = byId("compare");
    this.before = /** @type {HTMLImageElement} */ (byId("before-img"));
    this.after = /** @type {HTMLImageElement} */ (byId("after-img"));
    this.compareRange = /** @type {HTMLInputElement} */ (byId("compare-range"));
    this.compareParts = [this.after, byId("compare-handle"), byId("tag-before"), byId("tag-after"), this.compareRange];
    this.progressBox = byId("progress-box");
    this.progressLabel = byId("progress-label");
    this.progress = /** @type {HTMLProgressElement} */ (byId("progress"));
    this.resultBar = byId("result-bar");
    this.resultMeta = byId("result-meta");
    this.download = /** @type {HTMLAnchorElement} */ (byId("download"));
    this.cancel = /** @type {HTMLButtonElement} */ (byId("cancel"));
    this.stale = byId("stale");
    this.batchBar = byId("batch-bar");
    this.batchMeta = byId("batch-meta");
    this.zip = /** @type {HTMLAnchorElement} */ (byId("download-zip"));
    this.scale = /** @type {HTMLSelectElement} */ (byId("scale"));
    this.scale.replaceChildren(...BRUSHES.map((brush) => new Option(brushChoice(brush), brush.value)));
    this.scaleHint = byId("scale-hint");
    this.scaleHintText = this.scaleHint.textContent;
    this.examples = /** @type {HTMLElement} */ (document.querySelector(".examples"));
    this.photoName = "";
    this.photoCount = 1;
    /** whether the page's photo is a video clip (restyled frame by frame at full size: no brush scale) */
    this.isClip = false;
    /** @type {string | null} the URL of the page's photo (the stage may show a result over another) */
    this.photoUrl = null;
    /** @type {string[]} the refusal under the drop zone, line by line */
    this.fileLines = [];
    /** what the progress line said before contact with the gateway was lost (showContact) */
    this.labelBeforeLoss = "";
    on(this.compareRange, "input", () => this.setDivider(Number(this.compareRange.value)));
    on(this.before, "load", () => this.describePhoto());
    // A strip is stretched or not by the column's width: the label follows the window.
    new ResizeObserver(() => { if (this.before.naturalWidth) this.describePhoto(); }).observe(this.before);
    on(this.before, "error", () => this.showResultAlone());
  }

  /**
   * Calls handler with the photos the person picked, dropped or pasted (one or more).
   * @param {(files: File[]) => void} handler
   */
  bindFile(handler) {
    on(this.fileInput, "change", () => {
      const files = [...(this.fileInput.files || [])];
      // The page holds what it takes; the input lets go, so that a file chosen again (one refused, to
      // try once more) is reported again: the browser says nothing of a choice that did not change.
      this.fileInput.value = "";
      if (files.length) handler(files);
    });
    // Dropping anywhere must not navigate away to the file; only the drop zone accepts it.
    on(document, "dragover", (event) => event.preventDefault());
    on(document, "drop", (event) => event.preventDefault());
    // The drop zone and the empty stage both take a dropped photo.
    for (const target of [this.dropzone, this.stage]) {
      on(target, "dragenter", () => target.classList.add("is-dragging"));
      on(target, "dragleave", () => target.classList.remove("is-dragging"));
      on(target, "drop", (/** @type {DragEvent} */ event) => {
        target.classList.remove("is-dragging");
        const files = event.dataTransfer ? [...event.dataTransfer.files] : [];
        if (files.length) handler(files);
      });
    }
    on(document, "paste", (/** @type {ClipboardEvent} */ event) => {
      const file = event.clipboardData && [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
      if (file) handler([file]);
    });
  }

  /** @param {(styleId: string) => void} handler */
  bindStyle(handler) {
    on(this.styleGrid, "change", (event) => handler(/** @type {HTMLInputElement} */ (event.target).value));
  }

  /** @param {(strength: number) => void} handler called with 0 to 1 */
  bindStrength(handler) {
    on(this.strength, "input", () => {
      this.strengthValue.value = `${this.strength.value}%`;
      handler(Number(this.strength.value) / 100);
    });
  }

  /** @param {(scale: string) => void} handler called with the brush scale: the API's "auto" or a number */
  bindScale(handler) {
    on(this.scale, "change", () => handler(this.scale.value));
  }

  /** @param {() => void} handler */
  bindCancel(handler) {
    on(this.cancel, "click", handler);
  }

  /** @param {(event: MouseEvent) => void} handler may take over the download (preventDefault) */
  bindDownload(handler) {
    on(this.download, "click", handler);
  }

  /** @param {(name: string, label: string) => void} handler called with the example photo's file name and its button's text */
  bindExamples(handler) {
    on(this.examples, "click", (event) => {
      const button = /** @type {HTMLElement} */ (event.target).closest("button[data-example]");
      if (button) handler(/** @type {string} */ (button.getAttribute("data-example")), (button.textContent || "").trim());
    });
  }

  /**
   * Marks the example photo that is loading or chosen (a pressed button; busy while it loads), the
   * others not: feedback where the person tapped, also on a phone where the stage is far below.
   * @param {string | null} name the example's file name; null when the photo is not an example
   * @param {boolean} [loading]
   */
  markExample(name, loading = false) {
    for (const button of this.examples.querySelectorAll("button[data-example]")) {
      const chosen = button.getAttribute("data-example") === name;
      button.setAttribute("aria-pressed", String(chosen));
      button.setAttribute("aria-busy", String(chosen && loading));
    }
  }

  /** @param {() => boolean} busy whether leaving now would abandon a job (the browser then asks first) */
  bindLeave(busy) {
    on(window, "beforeunload", (/** @type {BeforeUnloadEvent} */ event) => {
      if (!busy()) return;
      event.preventDefault();
      event.returnValue = "";  // older browsers ask only when this is set
    });
  }

  /**
   * Calls `handler` when the person asks for a restyle: the Restyle button (clicked, or Enter or Space
   * on it). Enter in a slider, radio or switch is not such a request, although Chromium submits the form
   * for it ("implicit submission"): there it does nothing, and on the switch it flips it, as Space does.
   * @param {() => void} handler
   */
  bindSubmit(handler) {
    on(this.form, "keydown", (/** @type {KeyboardEvent} */ event) => {
      const target = /** @type {HTMLElement} */ (event.target);
      if (event.key !== "Enter" || !(target instanceof HTMLInputElement)) return;
      if (!["range", "radio", "checkbox"].includes(target.type)) return;
      event.preventDefault();
      if (target.type === "checkbox" && !target.disabled) target.click();
    });
    on(this.form, "submit", (event) => {
      event.preventDefault();
      handler();
    });
  }

  /** @param {Style[]} styles */
  renderStyles(styles) {
    this.styleGrid.innerHTML = styles.length
      ? styles.map(styleCard).join("")
      : statusLine("No styles are installed on the inference server yet.");
    this.styleGrid.setAttribute("aria-busy", "false");
  }

  /** @param {string} message shown in place of the gallery while the styles cannot be loaded yet */
  renderStylesWaiting(message) {
    this.styleGrid.innerHTML = statusLine(message);
  }

  /** @param {string} message */
  renderStylesError(message) {
    this.styleGrid.setAttribute("aria-busy", "false");
    this.styleGrid.textContent = "";
    this.showError(message);
  }

  /**
   * Checks the style's card and shows what it is and whose work trained it.
   * @param {Style} style
   */
  selectStyle(style) {
    const radio = /** @type {HTMLInputElement | null} */ (
      this.styleGrid.querySelector(`input[value="${CSS.escape(style.id)}"]`));
    if (radio) radio.checked = true;
    this.styleInfo.innerHTML = styleInfo(style);
  }

  /** @returns {string} the brush scale control's value: "auto" or a working scale in (0, 1] */
  scaleValueNow() {
    return this.scale.value;
  }

  /**
   * @param {string} scale a brush scale kept from before a reload
   * @returns {string} the scale the control shows now (its default when `scale` is not among its options)
   */
  setScale(scale) {
    if ([...this.scale.options].some((option) => option.value === scale)) this.scale.value = scale;
    return this.scale.value;
  }

  /**
   * Moves the strength slider (to a result's own strength when it is shown again).
   * @param {number} strength 0 to 1
   */
  setStrength(strength) {
    this.strength.value = String(Math.round(strength * 100));
    this.strengthValue.value = `${this.strength.value}%`;
  }

  /**
   * Shows the result at a strength by laying it over the photo with that opacity (a pixel mix).
   * @param {number} opacity 0 to 1
   */
  setMix(opacity) {
    this.after.style.setProperty("--mix", String(opacity));
  }

  /** @param {string | null} message why the shown result is out of date; null when it is not */
  showStale(message) {
    this.stale.textContent = message || "";
    show(Boolean(message), this.stale);
  }

  /** @param {boolean} visible whether the running job can be cancelled now */
  showCancel(visible) {
    show(visible, this.cancel);
  }

  /** @returns {number} the strength slider's value, 0 to 1 */
  strengthValueNow() {
    return Number(this.strength.value) / 100;
  }

  /**
   * Shows the picked photo alone, ready to restyle.
   * @param {string} url object URL of the photo (the first of several)
   * @param {string} name its file name, or what the several are called
   * @param {number} [count] how many photos were picked
   * @param {boolean} [clip] whether it is a video clip
   */
  showPhoto(url, name, count = 1, clip = false) {
    this.markExample(null);  // an example marks itself again once it is shown (app.js)
    this.photoName = name;
    this.photoCount = count;
    this.setClip(clip);
    this.photoUrl = url;
    if (this.submit.getAttribute("aria-disabled") !== "true") this.submit.textContent = this.restyleLabel();
    this.before.src = url;
    this.clearStageError();  // said of what the stage held before
    this.fileName.textContent = name;
    this.dropzone.classList.add("has-file");
    show(true, this.fileName, this.compare);
    show(false, this.empty, this.resultBar, this.batchBar, this.progressBox, ...this.compareParts);
  }

  /** @param {string} text what the drop zone says a photo may be */
  showHint(text) {
    this.hint.textContent = text;
  }

  /** @param {string | undefined} store where the gateway keeps photos: "memory" or "redis" (GET /api/limits) */
  showWhereKept(store) {
    byId("kept-where").textContent = keptWhere(store);
  }

  /** Hides the photo and its result: the stage is empty again. */
  clearPhoto() {
    this.markExample(null);
    this.photoName = "";
    this.photoCount = 1;
    this.photoUrl = null;
    this.setClip(false);
    this.before.removeAttribute("src");
    this.after.removeAttribute("src");
    this.clearStageError();
    this.dropzone.classList.remove("has-file");
    show(true, this.empty);
    show(false, this.fileName, this.compare, this.resultBar, this.batchBar, this.progressBox, ...this.compareParts);
  }

  /**
   * Adds the photo's pixel size to its name once the browser has decoded it, and enlarges a tiny
   * image (an icon, a 1 × 1 pixel) with its pixels kept sharp, so that it and its result can be seen.
   * A strip drawn thicker than its shape allows (styles.css: at least 3rem) is said to be stretched.
   */
  describePhoto() {
    const width = this.before.naturalWidth;
    const height = this.before.naturalHeight;
    const longest = Math.max(width, height);
    const enlarged = longest > 0 && longest < MIN_SHOWN_PX;
    this.compare.classList.toggle("is-enlarged", enlarged);
    if (enlarged) this.compare.style.setProperty("--shown-width", `${Math.round((width * MIN_SHOWN_PX) / longest)}px`);
    const size = document.createElement("span");
    size.className = "dropzone__size";  // "512 × 512 px" stays on one line when the name wraps
    size.textContent = imageSize(width, height);
    // Several photos have several sizes: the name says how many, not the first one's size.
    if (this.photoCount > 1) return this.fileName.replaceChildren(this.photoName);
    // The stage shows a result over another photo (of a batch, or gone from the gateway): the line
    // still names the page's photo, and only its own size belongs in it.
    if (this.before.getAttribute("src") !== this.photoUrl) return;
    const out = stretched(this.before);
    const shown = enlarged ? ` · shown enlarged${out ? " and stretched" : ""}` : out ? " · shown stretched" : "";
    if (this.fileName.textContent === `${this.photoName} · ${size.textContent}${shown}`) return;
    this.fileName.replaceChildren(`${this.photoName} · `, size, shown);
  }

  /** @param {string} message said politely by screen readers, never shown */
  announce(message) {
    this.announcer.textContent = message;
  }

  /** Hides the previous result while a new one is made. */
  clearResult() {
    this.clearStageError();
    show(false, this.resultBar, this.batchBar, ...this.compareParts);
  }

  /** @param {boolean} busy */
  setBusy(busy) {
    this.submit.setAttribute("aria-disabled", String(busy));
    this.submit.textContent = busy ? "Restyling…" : this.restyleLabel();
  }

  /** @returns {string} what the Restyle button says: "Restyle photo", "Restyle 3 photos" or "Restyle clip" */
  restyleLabel() {
    if (this.isClip) return "Restyle clip";
    return this.photoCount > 1 ? `Restyle ${this.photoCount} photos` : "Restyle photo";
  }

  /**
   * A clip is restyled frame by frame at full size (docs/gateway.md): the brush scale, which it would
   * not use, is switched off while a clip is the page's, and says why.
   * @param {boolean} clip
   */
  setClip(clip) {
    this.isClip = clip;
    this.scale.disabled = clip;
    this.scaleHint.textContent = clip ? "A clip is painted at full size, frame by frame: the brush scale is " +
      "for photos." : this.scaleHintText;
  }

  /**
   * @param {number} done tiles finished
   * @param {number} total tiles in the image; 0 while unknown (the bar is then indeterminate)
   * @param {string} [label] text instead of the tile count
   */
  showProgress(done, total, label) {
    show(true, this.progressBox);
    if (total > 0) {
      this.progress.max = total;
      this.progress.value = done;
    } else {
      this.progress.removeAttribute("value");
    }
    this.progressLabel.textContent = label || progressLabel(done, total);
  }

  /** @param {string} label the progress line's new words, the bar left as it is */
  relabelProgress(label) {
    this.progressLabel.textContent = label;
  }

  /**
   * Says on the progress line, and to screen readers, that the page cannot reach the gateway and keeps
   * trying (lost), or that it can again: the line then says what it said before, until the next progress.
   * @param {boolean} lost
   */
  showContact(lost) {
    const now = this.progressLabel.textContent || "";
    if (lost && now !== LOST_CONTACT) this.labelBeforeLoss = now;
    if (!lost && now === LOST_CONTACT) this.progressLabel.textContent = this.labelBeforeLoss;
    if (lost) this.progressLabel.textContent = LOST_CONTACT;
    this.announce(lost ? LOST_CONTACT : "Back in contact with the server.");
  }

  hideProgress() {
    show(false, this.progressBox);
  }

  /**
   * Shows the result over its photo with the compare slider, and offers it for download.
   * @param {string} url URL of the result
   * @param {string} filename download name
   * @param {string} meta one line about the result
   * @param {string} [photoUrl] the photo it was made from (the result itself when the page lacks
   *   it; one that cannot be loaded gives way to the result: showResultAlone); the one shown stays
   *   when not given
   * @param {{reveal?: boolean}} [options] reveal: false leaves the page where it is scrolled (a batch's
   *   result arriving while the person is elsewhere on the page)
   */
  showResult(url, filename, meta, photoUrl, { reveal = true } = {}) {
    this.clearStageError();  // said of the result shown before
    if (photoUrl && this.before.getAttribute("src") !== photoUrl) this.before.src = photoUrl;
    this.after.src = url;
    this.download.href = url;
    this.download.download = filename;
    this.download.textContent = `Download ${(filename.split(".").pop() || "").toUpperCase()}`;
    this.describeResult(meta);
    this.compareRange.value = "50";
    this.setDivider(50);
    show(true, this.compare, this.resultBar, ...this.compareParts);
    show(false, this.empty);
    if (reveal) this.revealStage();
  }

  /**
   * The photo under a shown result cannot be loaded (the gateway no longer keeps it): the result is
   * shown alone, over itself, rather than over a broken image.
   */
  showResultAlone() {
    const result = this.after.getAttribute("src");
    if (!this.after.hidden && result && this.before.getAttribute("src") !== result) this.before.src = result;
  }

  /** @param {string} filename what the shown result downloads as (a mix at another strength has its own name) */
  nameDownload(filename) {
    this.download.download = filename;
  }

  /** @param {string} meta one line about the shown result */
  describeResult(meta) {
    this.resultMeta.textContent = meta;
  }

  /** @returns {Promise<void>} once the shown result is decoded (rejects if it cannot be) */
  afterLoaded() {
    return this.after.decode();
  }

  /**
   * Offers a batch's zip for download, beside the result shown (its results are also under "Your results").
   * @param {string} url the zip's URL on the gateway
   * @param {string} meta one line about the batch
   */
  showBatchResult(url, meta) {
    this.zip.href = url;
    this.batchMeta.textContent = meta;
    // Not scrolled to: the stage was revealed when the batch started, and a person who has since moved
    // elsewhere on the page stays there (the announcement says where the zip is).
    show(true, this.batchBar);
  }

  /**
   * Scrolls the stage (photo, progress, result) to the top of the window unless it is already in
   * sight there, as on a wide screen where it sits beside the controls; on a phone it sits under the
   * whole form. It glides there, or jumps for a person who asked for reduced motion.
   */
  revealStage() {
    const top = this.stage.getBoundingClientRect().top;
    if (top >= 0 && top <= window.innerHeight / 3) return;
    const calm = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    this.stage.scrollIntoView({ block: "start", behavior: calm ? "auto" : "smooth" });
  }

  /** @param {number} percent position of the before/after divider from the left */
  setDivider(percent) {
    this.compare.style.setProperty("--pos", `${percent}%`);
    this.compareRange.setAttribute("aria-valuetext", `${percent}% original, ${100 - percent}% restyled`);
  }

  /** @param {string} message */
  showError(message) {
    this.error.textContent = message;
    show(true, this.error);
  }

  /**
   * Says why chosen files were refused, right under the drop zone: one line each.
   * @param {string | string[]} lines
   */
  showFileError(lines) {
    const all = typeof lines === "string" ? [lines] : lines;
    this.fileLines = all;
    this.fileError.replaceChildren(...all.flatMap((line, i) => (i ? [document.createElement("br"), line] : [line])));
    show(all.length > 0, this.fileError);
  }

  /**
   * Takes the refusal under the drop zone away, to be said elsewhere (see app.js restyle()).
   * @returns {string[]} what it said, line by line; none when nothing was refused
   */
  takeFileError() {
    const lines = this.fileLines;
    this.clearFileError();
    return lines;
  }

  /**
   * @param {string} [only] clears it only while it says just this (a note that has had its day, not
   *   a refusal said since)
   */
  clearFileError(only) {
    if (only !== undefined && this.fileLines.join("\n") !== only) return;
    this.fileLines = [];
    this.fileError.textContent = "";
    show(false, this.fileError);
  }

  /**
   * Says what went wrong with the stage's own controls (Cancel, Download) beside them, not by the
   * Restyle button, which on a phone is a screen or more away.
   * @param {string} message
   */
  showStageError(message) {
    this.stageError.textContent = message;
    show(true, this.stageError);
  }

  clearStageError() {
    this.stageError.textContent = "";
    show(false, this.stageError);
  }

  /** The page's own error line, by the Restyle button (a refused file's reason stays: clearFileError). */
  clearError() {
    this.error.textContent = "";
    show(false, this.error);
  }
}

/**
 * Whether an image is drawn in another shape than its own (by more than 2 %, beyond rounding).
 * @param {HTMLImageElement} image
 * @returns {boolean}
 */
function stretched(image) {
  const { width, height } = image.getBoundingClientRect();
  if (!width || !height || !image.naturalWidth || !image.naturalHeight) return false;
  const ratio = (width / height) / (image.naturalWidth / image.naturalHeight);
  return ratio > 1.02 || ratio < 1 / 1.02;
}
