/**
 * Video clips on the page. A clip is chosen, dropped or pasted like a photo; it is restyled as a job
 * (progress in frames), and the result plays over the original with the same before/after divider,
 * both clips in step, and downloads. app.js calls ClipStage.problem, show, setAside, clear and restyle;
 * whether a file is a clip at all is clip_sniff.js's to say. Everything else about clips lives here.
 */

import { createJob, fetchResult, followJob } from "./api.js";
import { byId, on, show } from "./dom.js";
import { fileSize } from "./template.js";

// Chromium plays these in <video>; animated GIF, WebP and PNG originals show as the page's <img>.
const PLAYABLE = new Set(["mp4", "mov", "webm"]);
const IN_STEP_S = 0.15;  // the original follows the result when they drift further apart

/** @typedef {{url: string, filename: string, meta: string}} ClipResult a restyled clip: its object URL, name, one line */

/**
 * @param {string} className
 * @param {string} label
 * @returns {HTMLVideoElement}
 */
function makeVideo(className, label) {
  const video = document.createElement("video");
  video.className = className;
  video.setAttribute("aria-label", label);
  video.playsInline = true;
  video.loop = true;
  video.preload = "auto";
  video.hidden = true;
  return video;
}

export class ClipStage {
  /** @param {import("./view.js").View} view */
  constructor(view) {
    this.view = view;
    this.compare = byId("compare");
    this.before = makeVideo("compare__before compare__video", "Your clip, before restyling");
    this.after = makeVideo("compare__after compare__video", "Your clip, restyled");
    this.before.muted = true;  // the result carries the same sound track; one is enough
    this.compare.insertBefore(this.before, byId("after-img"));
    this.compare.insertBefore(this.after, byId("compare-handle"));
    this.play = document.createElement("button");
    this.play.type = "button";
    this.play.className = "button button--quiet clip-play";
    this.play.textContent = "Play both";
    this.play.hidden = true;
    this.compare.after(this.play);
    /** @type {ClipResult | null} the result on the stage; its object URL is freed with it */
    this.result = null;
    on(this.play, "click", () => (this.after.paused ? this.after.play() : this.after.pause()));
    on(this.after, "play", () => { this.before.play(); this.play.textContent = "Pause"; });
    on(this.after, "pause", () => { this.before.pause(); this.play.textContent = "Play both"; });
    for (const type of ["seeked", "timeupdate"]) on(this.after, type, () => this.keepInStep());
  }

  keepInStep() {
    if (this.before.hidden) return;
    if (Math.abs(this.before.currentTime - this.after.currentTime) > IN_STEP_S) {
      this.before.currentTime = this.after.currentTime;
    }
  }

  /**
   * Why this clip cannot be restyled, or null: bytes, and (where the browser reads the header) its
   * duration; the gateway checks every limit again from the container's header.
   * @param {File} file
   * @param {string} kind what clipKind (clip_sniff.js) told of its bytes
   * @param {string} url its object URL
   * @param {{max_upload_bytes: number, clips?: ClipLimits} | null} limits
   * @returns {Promise<string | null>}
   */
  async problem(file, kind, url, limits) {
    if (!limits) return null;
    if (file.size > limits.max_upload_bytes) {
      return `The clip is ${fileSize(file.size)}; the limit is ${fileSize(limits.max_upload_bytes)}.`;
    }
    if (!limits.clips || !PLAYABLE.has(kind)) return null;
    const seconds = await duration(url);
    if (seconds !== null && seconds > limits.clips.max_seconds) {
      return `The clip lasts ${seconds.toFixed(1)} s; the limit is ${limits.clips.max_seconds} s.`;
    }
    return null;
  }

  /**
   * Shows the chosen clip on the stage (the view has shown its name): a <video> for MP4, MOV and WebM,
   * the view's own <img> for animated GIF, WebP and PNG; and its result over it, when one comes back.
   * @param {string} url
   * @param {string} kind what clipKind (clip_sniff.js) told of its bytes, e.g. "mp4" or "gif"
   * @param {ClipResult | null} [result] its result, as setAside gave it, to show again
   */
  show(url, kind, result = null) {
    this.clear();
    this.compare.classList.add("is-clip");
    const playable = PLAYABLE.has(kind);
    this.compare.classList.toggle("is-clip-video", playable);
    if (playable) {
      this.before.src = url;
      this.before.hidden = false;
    }
    if (result) this.showResult(result, false);
  }

  /**
   * Takes the result off the stage without freeing it, to be shown again (show) if the clip comes back
   * after a photo chosen in its place is refused; whoever holds it frees its URL otherwise.
   * @returns {ClipResult | null}
   */
  setAside() {
    const result = this.result;
    this.result = null;
    return result;
  }

  /** Back to photos: no clip on the stage, no result URL kept. */
  clear() {
    for (const video of [this.before, this.after]) {
      video.pause();
      video.removeAttribute("src");
      video.load();
      video.hidden = true;
    }
    this.play.hidden = true;
    this.compare.classList.remove("is-clip", "is-clip-video");
    if (this.result) URL.revokeObjectURL(this.result.url);
    this.result = null;
  }

  /**
   * Restyles the clip as a job, with progress in frames, and shows the result over the original.
   * Raises ApiError like the photo path (app.js shows it).
   * @param {File} file
   * @param {string} styleId
   * @param {number} strength
   * @param {import("./api.js").Look} look
   * @param {string} styleName
   * @param {() => boolean} [stayPut] asked when the result comes: true leaves the page where it is
   *   scrolled (the person moved on to "Your results" meanwhile) instead of scrolling to the stage
   */
  async restyle(file, styleId, strength, look, styleName, stayPut = () => false) {
    const view = this.view;
    const job = await createJob(file, styleId, strength, (sent, total) =>
      view.showProgress(sent, total, `Uploading ${fileSize(sent)} of ${fileSize(total)}…`), look);
    const frames = (/** @type {number} */ done, /** @type {number} */ total) =>
      view.showProgress(done, total, total ? `${done} of ${total} frames restyled…` : "Starting…");
    frames(0, job.total);
    const finished = await followJob(job, frames, (lost) => view.showContact(lost));
    const { blob, filename } = await fetchResult(finished);
    view.showProgress(finished.total, finished.total,
                      finished.total === 1 ? "Restyled its one frame" : `Restyled all ${finished.total} frames`);
    if (this.result) URL.revokeObjectURL(this.result.url);
    this.showResult({ url: URL.createObjectURL(blob), filename,
                      meta: `${styleName}, version ${finished.version} · ${fileSize(blob.size)}` }, !stayPut());
    view.announce("Your clip is restyled. Play both, compare them with the slider, or download it.");
  }

  /**
   * Plays a result over the clip, from the start, and offers it for download.
   * @param {ClipResult} result
   * @param {boolean} reveal whether the stage is scrolled to (a new result), or the page left where it is
   */
  showResult(result, reveal) {
    this.result = result;
    this.view.showResult(result.url, result.filename, result.meta, undefined, { reveal });
    this.after.src = result.url;
    show(true, this.after, this.play);
    this.after.currentTime = 0;
    this.before.currentTime = 0;
  }
}

/**
 * The clip's duration in seconds as the browser reads it, or null when it cannot.
 * @param {string} url
 * @returns {Promise<number | null>}
 */
function duration(url) {
  return new Promise((resolve) => {
    const probe = document.createElement("video");
    probe.preload = "metadata";
    probe.muted = true;
    on(probe, "loadedmetadata", () => resolve(Number.isFinite(probe.duration) ? probe.duration : null), { once: true });
    on(probe, "error", () => resolve(null), { once: true });
    probe.src = url;
  });
}
