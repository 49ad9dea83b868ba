/**
 * Follows one job from queue to result: progress with queue place and time left, Cancel, and a
 * record in storage so that a reload follows it again. Owns no DOM beyond what the View offers.
 */

import { ApiError, cancelJob, expiry, fetchJob, fetchResult, followJob } from "./api.js";
import { Eta } from "./eta.js";
import { ownFilename } from "./photo_names.js";
import { loadVisit, saveRunning } from "./store.js";
import { jobLabel } from "./template.js";

/** @typedef {import("./api.js").Job} Job */
/** @typedef {import("./store.js").Result} Result */
/** @typedef {import("./store.js").Running} Running */
/** @typedef {Running["order"]} Made what a job makes, as the results list records it */

/**
 * @typedef {object} Finished
 * @property {Result} result its record (without thumbnail yet)
 * @property {string} objectUrl the downloaded image, for this page's life
 * @property {boolean} late whether Cancel was pressed but the job had finished before the gateway heard
 */

const CANCELLING = "Cancelling…";
// A restyle the gateway is too busy to take (429 busy: it works on as many images as it may) is asked for
// again after a pause that starts at this and doubles up to BUSY_RETRY_MAX_MS (the 30 s it suggests), each
// drawn between half and all of it, so that many waiting pages do not come back together, each resending
// its form (a painting included).
export const BUSY_RETRY_MS = 2000;
const BUSY_RETRY_MAX_MS = 30_000;
const WAITING = "Waiting for the gateway: it is busy with other people's images. Trying again in a moment…";

export class JobFlow {
  /** @param {import("./view.js").View} view */
  constructor(view) {
    this.view = view;
    /** @type {Job | null} the job being followed */
    this.job = null;
    this.cancelled = false;
    /** @type {(() => void) | null} ends the wait for a busy gateway early (Cancel), while there is one */
    this.wake = null;
    /** whether create() runs: asking the gateway for a job, or waiting to ask again */
    this.creating = false;
  }

  /**
   * Creates a job, and while the gateway is too busy to take it asks again, as a batch waits in its queue:
   * the progress line says the page waits for the gateway, and Cancel ends the wait.
   * @param {() => Promise<Job>} create
   * @returns {Promise<Job | null>} null when cancelled while waiting; rejects with any other ApiError
   */
  async create(create) {
    this.cancelled = false;
    this.creating = true;
    try {
      for (let pause = BUSY_RETRY_MS; ; pause = Math.min(2 * pause, BUSY_RETRY_MAX_MS)) {
        let job = null;
        try {
          job = await create();
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 429 && error.code === "busy")) throw error;
        }
        if (job && this.cancelled) {  // Cancel was pressed while this request was on its way
          await cancelJob(job).catch(() => {});
          return null;
        }
        if (job) return job;
        if (this.cancelled) return null;
        this.view.showProgress(0, 0, WAITING);
        this.view.showCancel(true);
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, pause * (0.5 + Math.random() / 2));
          this.wake = () => {
            clearTimeout(timer);
            resolve(undefined);
          };
        });
        this.wake = null;
        if (this.cancelled) return null;
      }
    } finally {
      this.wake = null;
      this.creating = false;
      this.view.showCancel(false);
    }
  }

  /** @returns {boolean} whether a job is being followed */
  get running() {
    return this.job !== null;
  }

  /**
   * Follows `job` to its end and downloads its image.
   * @param {Job} job as created (or as stored before a reload)
   * @param {Made} made what it makes
   * @param {number} started ms since the epoch
   * @returns {Promise<Finished | null>} null when cancelled; rejects with ApiError when it failed
   */
  async follow(job, made, started = Date.now()) {
    this.job = job;
    this.cancelled = false;
    saveRunning({ id: job.id, statusUrl: job.status_url, eventsUrl: job.events_url, order: made, started });
    this.view.showCancel(true);
    const eta = new Eta();
    let lostContact = false;
    try {
      const finished = await followJob(job, (done, total, snap) => {
        // Once Cancel is pressed the line says so until the job ends: progress still coming never undoes it.
        if (this.cancelled) return this.view.showProgress(done, total, CANCELLING);
        const left = snap.eta_s ?? eta.update(done, total, performance.now() / 1000);
        this.view.showProgress(done, total, jobLabel(done, total, { place: snap.queue_position, left }));
      }, (lost) => this.view.showContact(lost));
      const { blob, filename } = await fetchResult(finished);
      /** @type {Result} */
      const result = { ...made, id: job.id, time: Date.now(), url: finished.result_url, filename, thumb: "",
                       expiresAt: expiry(finished), version: finished.version || 0, bytes: blob.size,
                       maps: finished.maps || null };
      // Two photos called photo.jpg download as photo-moss.jpg and photo-moss-2.jpg, as in a batch's zip.
      result.filename = ownFilename(result, loadVisit().results);
      return { result, objectUrl: URL.createObjectURL(blob), late: this.cancelled };
    } catch (error) {
      if (this.cancelled || (error instanceof ApiError && error.code === "cancelled")) return null;
      // Lost contact (the page unloading, a network cut): the job may still run, so a reload follows it.
      lostContact = error instanceof ApiError && error.status === 0;
      throw error;
    } finally {
      this.job = null;
      if (!lostContact) saveRunning(null);
      this.view.showCancel(false);
    }
  }

  /**
   * Follows again the job a reload interrupted, if the gateway still has it.
   * @param {Running} running as stored
   * @returns {Promise<Finished | null>} null when it is gone or was cancelled
   */
  async resume(running) {
    let job;
    try {
      job = await fetchJob(running.statusUrl);
    } catch (error) {
      saveRunning(null);
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
    this.view.showProgress(job.done, job.total, jobLabel(job.done, job.total, { place: job.queue_position }));
    return this.follow({ ...job, status_url: running.statusUrl, events_url: running.eventsUrl }, running.order,
                       running.started);
  }

  /**
   * Asks the gateway to stop the job; follow() then ends with null, or with the result marked `late` when
   * the job finished before the gateway heard. While create() waits for a busy gateway, ends the wait.
   */
  async cancel() {
    if (this.creating) {  // no job yet: the page waits for the gateway to take it, or asks it now
      this.cancelled = true;
      this.view.showProgress(0, 0, CANCELLING);
      return this.wake?.();
    }
    if (!this.job) return;
    this.cancelled = true;
    this.view.showCancel(false);
    this.view.showProgress(this.job.done, this.job.total, CANCELLING);
    await cancelJob(this.job);
  }
}
