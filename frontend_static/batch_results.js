/**
 * The results of a batch, as its photos finish: each is fetched and listed under "Your results", and
 * the first is shown on the stage over its own photo, without scrolling. The later ones take neither
 * the stage, the focus nor the scroll: the person may be using the slider or the list meanwhile. The
 * zip of them all stays on offer.
 */

import { expiry, fetchResult } from "./api.js";
import { unusedFilename } from "./photo_names.js";
import { MAX_RESULTS, loadVisit } from "./store.js";

/** @typedef {import("./store.js").Result} Result */
/** @typedef {import("./api.js").Batch} Batch */
/** @typedef {import("./job_flow.js").Made} Made */

export class BatchResults {
  /**
   * @param {import("./results.js").Results} results
   * @param {string[]} photoUrls an object URL of each photo, in the order sent
   * @param {Made} made what every photo is made with (its photoId is set per photo)
   * @param {string[]} photoKeys a key of each photo's content, in the order sent (photo_names.photoKey)
   */
  constructor(results, photoUrls, made, photoKeys) {
    this.results = results;
    this.photoUrls = photoUrls;
    this.photoKeys = photoKeys;
    this.made = made;
    /** when the photos were sent, ms since the epoch: with its place, it orders each (photo_names.js) */
    this.sent = Date.now();
    /** @type {Set<string>} job ids fetched or being fetched */
    this.taken = new Set();
    /** @type {Promise<void>} one result at a time, in the order they finish; it never rejects */
    this.adding = Promise.resolve();
    this.added = 0;
    /** results that could not be fetched or shown (the zip has them, or names them in errors.txt) */
    this.skipped = 0;
  }

  /**
   * Lists the photos a batch snapshot shows done and not yet listed.
   * @param {Batch} batch
   * @returns {Promise<void>} once they are listed (or skipped)
   */
  follow(batch) {
    (batch.photos || []).forEach((photo, index) => {
      if (photo.state !== "done" || this.taken.has(photo.id)) return;
      this.taken.add(photo.id);
      this.adding = this.adding.then(() => this.add(photo, index)).catch(() => { this.skipped += 1; });
    });
    return this.adding;
  }

  /**
   * @param {import("./api.js").BatchPhoto} photo a finished photo's job
   * @param {number} index its place in the batch
   */
  async add(photo, index) {
    const fetched = await fetchResult(photo);
    const photoId = `${photo.id}/photo`;
    this.results.addPhoto(photoId, this.photoUrls[index]);
    /** @type {Result} */
    const result = { ...this.made, photoId, photoKey: this.photoKeys[index], photoUrl: photo.image_url || null,
                     photoName: photo.name,
                     photoOrder: /** @type {[number, number]} */ ([this.sent, index]), id: photo.id,
                     time: Date.now(), url: photo.result_url, filename: fetched.filename, thumb: "", expiresAt: expiry(photo),
                     version: photo.version || 0, bytes: fetched.blob.size, maps: null };
    result.filename = unusedFilename(result.filename, result, loadVisit().results);
    await this.results.addListed(result, URL.createObjectURL(fetched.blob));
    this.added += 1;
    // The stage shows the first, unless the person has since shown another from the list.
    if (!this.results.shown) this.results.show(result, { reveal: false });
  }

  /**
   * What the page says once the batch has ended, about where its results are.
   * @returns {string}
   */
  summary() {
    const zip = "all of them download as one zip";
    if (!this.skipped) {
      const listed = this.added > MAX_RESULTS ? `the newest ${MAX_RESULTS} are` : "each is";
      return `Your photos are restyled: ${listed} under \u201cYour results\u201d, and ${zip}.`;
    }
    const one = this.skipped === 1;
    const skipped = `${this.skipped} ${one ? "result" : "results"} could not be shown; ${one ? "it is" : "they are"} in the zip.`;
    if (!this.added) return `Your photos are restyled, and ${zip}. ${skipped}`;
    const listed = this.added > MAX_RESULTS ? `The newest ${MAX_RESULTS} of the others are` : "The others are";
    return `Your photos are restyled. ${skipped} ${listed} under \u201cYour results\u201d, and ${zip}.`;
  }
}

/**
 * @param {string} photoId a result's photoId
 * @returns {boolean} whether it names a batch's photo (`<job id>/photo`, kept by the gateway with that
 *   photo's result) rather than a photo the gateway keeps by its own id
 */
export function isBatchPhoto(photoId) {
  return photoId.endsWith("/photo");
}
