/**
 * The results of a batch, as its photos finish: each is fetched and listed under "Your results", and
 * the first is shown on the stage over its own photo, without scrolling. The later ones take neither
 * the stage, the focus nor the scroll: the person may be using the slider or the list meanwhile. The
 * zip of them all stays on offer. What is listed is kept with the batch (store.js), so that a page
 * reloaded meanwhile lists the rest, and none twice.
 */

import { expiry, fetchResult } from "./api.js";
import { unusedFilename } from "./photo_names.js";
import { MAX_RESULTS, loadVisit, saveBatch } from "./store.js";

/** @typedef {import("./store.js").Result} Result */
/** @typedef {import("./store.js").SavedBatch} SavedBatch */
/** @typedef {import("./api.js").Batch} Batch */

export class BatchResults {
  /**
   * @param {import("./results.js").Results} results
   * @param {string[]} photoUrls an object URL of each photo, in the order sent; none after a reload (each
   *   result is then shown over the gateway's copy of its photo)
   * @param {SavedBatch} saved the batch as the visit keeps it: what its photos are made with, and which
   *   of them are listed already
   */
  constructor(results, photoUrls, saved) {
    this.results = results;
    this.photoUrls = photoUrls;
    this.saved = saved;
    /** @type {Set<string>} job ids fetched or being fetched, or listed before a reload */
    this.taken = new Set(saved.listed);
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
      this.adding = this.adding.then(() => this.add(photo, index)).catch(() => { this.skipped += 1; })
        .then(() => this.remember(photo.id));
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
    // Its photo is on the page while the page holds the batch's files; after a reload it is not (the result
    // is shown over the gateway's copy, and "Show" makes that copy the page's photo).
    if (this.photoUrls[index]) this.results.addPhoto(photoId, this.photoUrls[index]);
    /** @type {Result} */
    const result = { ...this.saved.made, photoId, photoKey: this.saved.keys[index], photoUrl: photo.image_url || null,
                     photoName: photo.name,
                     photoOrder: /** @type {[number, number]} */ ([this.saved.sent, index]), id: photo.id,
                     time: Date.now(), url: photo.result_url, filename: fetched.filename, thumb: "", expiresAt: expiry(photo),
                     version: photo.version || 0, bytes: fetched.blob.size, maps: null };
    result.filename = unusedFilename(result.filename, result, loadVisit().results);
    await this.results.addListed(result, URL.createObjectURL(fetched.blob));
    this.added += 1;
    // The stage shows the first, unless the person has since shown another from the list.
    if (!this.results.shown) this.results.show(result, { reveal: false });
  }

  /**
   * Keeps with the batch that a photo is listed (or given up on), while the visit still holds this batch.
   * @param {string} id its job's id
   */
  remember(id) {
    this.saved.listed.push(id);
    if (loadVisit().batch?.statusUrl === this.saved.statusUrl) saveBatch(this.saved);
  }

  /**
   * What the page says once the batch has ended, about where its results are.
   * @returns {string}
   */
  summary() {
    const zip = "all of them download as one zip";
    if (!this.skipped) {
      const listed = this.saved.listed.length > MAX_RESULTS ? `the newest ${MAX_RESULTS} are` : "each is";
      return `Your photos are restyled: ${listed} under \u201cYour results\u201d, and ${zip}.`;
    }
    const one = this.skipped === 1;
    const skipped = `${this.skipped} ${one ? "result" : "results"} could not be shown; ${one ? "it is" : "they are"} in the zip.`;
    if (!this.added) return `Your photos are restyled, and ${zip}. ${skipped}`;
    const listed = this.saved.listed.length > MAX_RESULTS ? `The newest ${MAX_RESULTS} of the others are` : "The others are";
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
