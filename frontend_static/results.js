/**
 * The visit's results and the one on the stage: lists them (kept in storage), shows one over its
 * photo, applies the strength slider to it live when its strength is a pixel mix (or marks it out of
 * date when only the server can), and makes its download hold what is shown.
 */

import { mixedBlob, thumbnail, typeOf } from "./live_mix.js";
import { downloadName } from "./photo_names.js";
import { saveResult } from "./store.js";
import { scaleLabel, stageLine, styleAndLook } from "./template.js";

/** @typedef {import("./store.js").Result} Result */
/**
 * @typedef {object} SetAside what the stage held of the results
 * @property {{id: string, url: string} | null} photo the photo on the page
 * @property {Map<string, string>} batchPhotos the photos of a batch on the page, by their results' photoId
 * @property {Result | null} shown the result on the stage
 */

export class Results {
  /**
   * @param {import("./view.js").View} view
   * @param {import("./results_view.js").ResultsView} listView
   */
  constructor(view, listView) {
    this.view = view;
    this.listView = listView;
    /** @type {Result[]} newest first */
    this.list = [];
    /** @type {Result | null} the result on the stage */
    this.shown = null;
    /** @type {Map<string, string>} result id -> object URL of its image, for this page's life */
    this.images = new Map();
    /** @type {{id: string, url: string} | null} the photo on the page: its gateway id and a URL of it */
    this.photo = null;
    /** @type {Map<string, string>} the photos of a batch on the page: a result's photoId -> a URL of it */
    this.batchPhotos = new Map();
    /** @type {() => void} told when another result, or none, is on the stage */
    this.shownChanged = () => {};
  }

  /** @param {() => void} handler called when another result, or none, is on the stage (see shown) */
  bindShown(handler) {
    this.shownChanged = handler;
  }

  /** @param {Result[]} results as kept in storage */
  load(results) {
    this.list = results;
    this.render();
  }

  /** @param {{id: string, url: string} | null} photo the photo now on the page */
  setPhoto(photo) {
    this.photo = photo;
    this.batchPhotos.clear();
    this.shown = null;
    this.shownChanged();
    this.render();
  }

  /**
   * What the stage holds of the visit's results, kept to show again if the photo or batch under it
   * comes back (a photo chosen in its place was refused: app.js).
   * @returns {SetAside}
   */
  setAside() {
    return { photo: this.photo, batchPhotos: new Map(this.batchPhotos), shown: this.shown };
  }

  /**
   * The photo or batch set aside is on the page again, with its photos' links; the result it showed
   * is the caller's to show (app.js shows a result with its maps and strength).
   * @param {SetAside} aside
   * @returns {Result | null} the result that was on the stage, if its image is still at hand
   */
  putBack({ photo, batchPhotos, shown }) {
    this.setPhoto(photo);
    this.batchPhotos = new Map(batchPhotos);
    return shown && this.urlOf(shown.id) ? shown : null;
  }

  /**
   * A photo of a batch on the page, so that its result is shown over it.
   * @param {string} id the photoId its result records
   * @param {string} url
   */
  addPhoto(id, url) {
    this.batchPhotos.set(id, url);
  }

  /** Takes the result off the stage while a new one is made (the photo stays on it). */
  clear() {
    this.shown = null;
    this.view.clearResult();
    this.shownChanged();
  }

  /**
   * Shows a new result, then lists it with a thumbnail.
   * @param {Result} result
   * @param {string} objectUrl its image, downloaded
   * @param {{reveal?: boolean}} [options] as for show
   */
  async add(result, objectUrl, options) {
    this.images.set(result.id, objectUrl);
    this.show(result, options);
    await this.view.afterLoaded();
    result.thumb = thumbnail(this.view.after);
    this.list = saveResult(result);
    this.forgetUnlisted();
    this.render();
  }

  /**
   * Lists a new result without taking the stage, the focus or the scroll from the person (a batch's,
   * while they may be using the page); its image is kept only once it decodes.
   * @param {Result} result
   * @param {string} objectUrl its image, downloaded
   * @returns {Promise<void>} rejects when the image cannot be decoded (nothing is kept of it then)
   */
  async addListed(result, objectUrl) {
    const image = new Image();
    image.src = objectUrl;
    try {
      await image.decode();
    } catch (error) {
      URL.revokeObjectURL(objectUrl);
      throw error;
    }
    this.images.set(result.id, objectUrl);
    result.thumb = thumbnail(image);
    this.list = saveResult(result);
    this.forgetUnlisted();
    this.render();
  }

  /** Whether the keyboard focus is in "Your results" (ResultsView.holdsFocus). */
  holdsFocus() {
    return this.listView.holdsFocus();
  }

  /** Lets go of the images of results dropped from the list (the one on the stage stays). */
  forgetUnlisted() {
    for (const [id, url] of this.images) {
      if (id === this.shown?.id || this.find(id)) continue;
      URL.revokeObjectURL(url);
      this.images.delete(id);
    }
  }

  /** @param {string} id @returns {Result | undefined} */
  find(id) {
    return this.list.find((r) => r.id === id);
  }

  /**
   * Puts a result on the stage over its photo: the one on the page, else the gateway's copy (a batch's,
   * after a reload), else the result alone (the controls follow it: see app.js).
   * @param {Result} result
   * @param {{reveal?: boolean}} [options] reveal: false leaves the page where it is scrolled
   */
  show(result, options) {
    this.shown = result;
    const url = this.urlOf(result.id);
    const onPage = result.photoId === this.photo?.id ? this.photo.url : this.batchPhotos.get(result.photoId);
    const photo = onPage || result.photoUrl || url;
    this.view.showResult(url, downloadName(result), stageLine(result), photo, options);
    this.shownChanged();
  }

  /**
   * @param {Result} result
   * @returns {boolean} whether its photo is on the page: the photo, or one of the batch
   */
  onPage(result) {
    return result.photoId === this.photo?.id || this.batchPhotos.has(result.photoId);
  }

  /**
   * Whether a result's strength can be changed in the page: a pixel mix made at strength 1 of the
   * photo on the page (its download is mixed from the two full-size images).
   * @param {Result} result
   * @returns {boolean}
   */
  mixesLive(result) {
    return result.pixelMix && result.madeAt === 1 && result.photoId === this.photo?.id;
  }

  /**
   * The controls changed: the shown result follows the strength live, or is marked out of date.
   * @param {number} strength 0 to 1
   * @param {string} scale brush scale
   * @param {{style: string, styleName: string, name: string | null} | null} [look] the controls' style
   *   and the name of their look (result_look.js); a shown result of another style, or of that style
   *   with another look, is out of date
   * @param {boolean} [keepColors] the keep-colours switch; a result made the other way is out of date
   */
  follow(strength, scale, look = null, keepColors = false) {
    const shown = this.shown;
    if (!shown) return;
    const live = this.mixesLive(shown);
    this.view.setMix(live ? strength : 1);
    this.view.nameDownload(downloadName(shown, live ? strength : shown.madeAt));
    if (live && shown.strength !== strength) {
      this.view.clearStageError();  // a file that could not be made at the strength before
      shown.strength = strength;
      this.view.describeResult(stageLine(shown));
      this.list = saveResult(shown);
      this.render();
    }
    this.view.showStale(staleness(shown, strength, scale, live, lookChange(shown, look), keepColors));
  }

  /**
   * A download of a result shown at another strength than it was made with: the file is mixed here
   * from the two full-size images, so it holds what is shown.
   * @param {MouseEvent} event
   */
  async download(event) {
    const shown = this.shown;
    if (!shown || !this.mixesLive(shown) || shown.strength === shown.madeAt) return;  // the file is what is shown
    event.preventDefault();
    try {
      const blob = await mixedBlob(this.view.after, this.view.before, shown.strength, typeOf(shown.filename));
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = downloadName(shown, shown.strength);
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      // Said by the Download button, where the person asked for the file.
      this.view.showStageError("The browser could not make the file at this strength. Please restyle at this strength.");
      console.error(error);
    }
  }

  /** @param {string} id @returns {string} the best URL of a result's image: downloaded, or its link */
  urlOf(id) {
    return this.images.get(id) || this.find(id)?.url || "";
  }

  render() {
    this.listView.render(this.list, (id) => this.urlOf(id),
                         (result) => (this.mixesLive(result) && this.photo ? this.photo.url : null));
  }
}

/**
 * @param {Result} shown
 * @param {number} strength the slider's
 * @param {string} scale the brush scale control's
 * @param {boolean} live whether the strength is applied in the page
 * @param {{was: string, now: string} | null} look the result's style or look and the controls', when they differ
 * @param {boolean} keepColors the keep-colours switch (results kept before it was recorded are not judged by it)
 * @returns {string | null} why the shown result no longer matches the controls, or null
 */
function staleness(shown, strength, scale, live, look, keepColors) {
  const changes = [];
  if (look) changes.push(look.now);
  if (!live && shown.strength !== strength) changes.push(`strength ${Math.round(strength * 100)}%`);
  if (shown.scale !== scale) changes.push(scaleLabel(scale));
  const colours = typeof shown.keepColors === "boolean" && shown.keepColors !== keepColors;
  if (colours) changes.push(keepColors ? "your photo's colours" : "the style's colours");
  if (!changes.length) return null;
  const like = look ? `${look.was}, ` : "";
  const kept = shown.keepColors ? ", keeping your photo's colours," : "";
  return `Out of date: this result was made with ${like}strength ${Math.round(shown.strength * 100)}%${kept} and ` +
    `${scaleLabel(shown.scale)}. Restyle to apply ${changes.join(" and ")}.`;
}

/**
 * How the controls' style or look differs from the shown result's, in names, or null when it does not.
 * @param {Result} shown
 * @param {{style: string, styleName: string, name: string | null} | null} look the controls'
 * @returns {{was: string, now: string} | null} e.g. {was: "Mosaic", now: "your painting (x.jpg)"}
 *   within one style; {was: "Any painting: Ribbons", now: "Blue Ink"} across styles
 */
function lookChange(shown, look) {
  if (!look) return null;
  if (look.style !== shown.style) {
    // Its colours are said apart (staleness), as the switch is a control of its own.
    return { was: styleAndLook(shown), now: look.name ? `${look.styleName}: ${look.name}` : look.styleName };
  }
  if (!shown.look || look.name === null || look.name === shown.look.name) return null;
  return { was: shown.look.name, now: look.name };
}
