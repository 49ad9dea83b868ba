/**
 * Video clips on the page. A clip is chosen, dropped or pasted like a photo; it is restyled as a job
 * (progress in frames), and the result plays over the original with the same before/after divider,
 * both clips in step, and downloads. app.js calls: clipKind (is the file a clip?), ClipStage.problem,
 * show, clear and restyle. Everything else about clips lives here.
 */

import { createJob, fetchResult, followJob } from "./api.js";
import { byId, on, show } from "./dom.js";
import { fileSize } from "./template.js";

export const CLIP_SNIFF_BYTES = 32;
const ASCII = new TextDecoder("latin1");
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
// Chromium plays these in <video>; animated GIF, WebP and PNG originals show as the page's <img>.
const PLAYABLE = new Set(["mp4", "mov", "webm"]);
const IN_STEP_S = 0.15;
// ISO base media files whose major brand holds no video (HEIF and AVIF photos and image sequences, a CR3
// raw photo, M4A/M4B/M4P and F4A/F4B audio): tessera/video_sniff.py's NOT_VIDEO_BRANDS.
const NOT_VIDEO_BRANDS = new Set(["heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs", "mif1",
  "mif2", "msf1", "miaf", "avif", "avis", "avio", "avci", "avcs", "crx ", "M4A ", "M4B ", "M4P ", "F4A ", "F4B "]);  // the original follows the result when they drift further apart

// A one-frame GIF is a still image in a format the gateway does not read (its 415 still_gif).
export const STILL_GIF = "That GIF holds a single frame, a still image, and GIF is not read as a photo: "
  + "save it as PNG or JPEG and choose that file instead.";

/**
 * The clip's container ('mp4', 'mov', 'webm', 'gif', animated 'webp', animated PNG 'apng'), or null; the
 * same decision as the gateway's tessera/video_sniff.py: a GIF, animated WebP or APNG is a clip only with
 * two frames or more (an APNG's acTL chunk declares them), and an ISO media file of a photo or audio
 * brand (HEIC, AVIF, M4A) is none.
 * @param {Uint8Array} bytes the whole file for a GIF, WebP or PNG (fileBytes), else CLIP_SNIFF_BYTES or more
 * @returns {string | null}
 */
export function clipKind(bytes) {
  const text = (/** @type {number} */ from, /** @type {number} */ to) => ASCII.decode(bytes.slice(from, to));
  if (text(4, 8) === "ftyp") {
    if (NOT_VIDEO_BRANDS.has(text(8, 12))) return null;
    return text(8, 12) === "qt  " ? "mov" : "mp4";
  }
  if (["moov", "mdat", "wide", "free"].includes(text(4, 8))) return "mov";
  if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return "webm";
  if (isGif(bytes)) return gifFrames(bytes) > 1 ? "gif" : null;
  if (text(0, 4) === "RIFF" && text(8, 16) === "WEBPVP8X" && (bytes[20] & 0x02) !== 0) {
    return webpFrames(bytes) > 1 ? "webp" : null;
  }
  if (isPng(bytes)) return apngFrames(bytes) > 1 ? "apng" : null;
  return null;
}

/**
 * The bytes clipKind needs: the first CLIP_SNIFF_BYTES, or the whole file for a GIF, WebP or PNG (frames
 * are counted; a PNG's acTL sits before its image data, but its photo is read whole for the upload anyway).
 * @param {Blob} file
 * @returns {Promise<Uint8Array>}
 */
export async function fileBytes(file) {
  const head = new Uint8Array(await file.slice(0, CLIP_SNIFF_BYTES).arrayBuffer());
  const whole = isGif(head) || ASCII.decode(head.slice(0, 4)) === "RIFF" || isPng(head);
  return whole ? new Uint8Array(await file.arrayBuffer()) : head;
}

/**
 * @param {Uint8Array} bytes the whole file
 * @returns {boolean} whether it is a GIF of one frame (or none left readable)
 */
export function isStillGif(bytes) {
  return isGif(bytes) && gifFrames(bytes) < 2;
}

/** @param {Uint8Array} bytes */
function isGif(bytes) {
  const text = ASCII.decode(bytes.slice(0, 6));
  return text === "GIF87a" || text === "GIF89a";
}

/**
 * Image descriptors in a GIF's block stream, up to two (walked, not decoded).
 * @param {Uint8Array} bytes
 * @returns {number}
 */
function gifFrames(bytes) {
  const table = (/** @type {number} */ flags) => (flags & 0x80 ? 3 << ((flags & 0x07) + 1) : 0);
  const skipSubBlocks = (/** @type {number} */ pos) => {
    while (pos < bytes.length) {
      const size = bytes[pos];
      pos += 1 + size;
      if (size === 0) break;
    }
    return pos;
  };
  if (bytes.length < 13) return 0;
  let pos = 13 + table(bytes[10]);
  let frames = 0;
  while (pos < bytes.length && frames < 2) {
    if (bytes[pos] === 0x2c) {  // image descriptor: 9 bytes, a colour table, the LZW code size, sub-blocks
      if (pos + 10 > bytes.length) break;
      frames += 1;
      pos = skipSubBlocks(pos + 11 + table(bytes[pos + 9]));
    } else if (bytes[pos] === 0x21) {  // extension: its label, then sub-blocks
      pos = skipSubBlocks(pos + 2);
    } else {
      break;  // the trailer, or a damaged stream
    }
  }
  return frames;
}

/** @param {Uint8Array} bytes */
function isPng(bytes) {
  return PNG_SIGNATURE.every((byte, i) => bytes[i] === byte);
}

/**
 * The frames an APNG's acTL chunk declares: 0 for a plain PNG, or an acTL whose CRC fails (a browser
 * drops such a chunk and shows the still image, as tessera/png_chunks.py reads it; the gateway then
 * answers the upload 422, damaged, as Pillow refuses the file). Its chunks are
 * walked up to the image data.
 * @param {Uint8Array} bytes
 * @returns {number}
 */
function apngFrames(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = PNG_SIGNATURE.length;
  while (pos + 12 <= bytes.length) {
    const size = view.getUint32(pos);
    const kind = ASCII.decode(bytes.slice(pos + 4, pos + 8));
    if (kind === "IDAT" || pos + 12 + size > bytes.length) break;
    if (kind === "acTL") {
      const intact = crc32(bytes.subarray(pos + 4, pos + 8 + size)) === view.getUint32(pos + 8 + size);
      return intact && size >= 8 ? view.getUint32(pos + 8) : 0;
    }
    pos += 12 + size;
  }
  return 0;
}

/** @type {Uint32Array | null} */
let crcTable = null;

/**
 * CRC-32 (ISO 3309, the polynomial of PNG's chunk check and zlib's crc32) of the bytes.
 * @param {Uint8Array} bytes
 * @returns {number} unsigned 32-bit
 */
function crc32(bytes) {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n += 1) {
      let c = n;
      for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * ANMF chunks in an animated WebP's RIFF stream, up to two.
 * @param {Uint8Array} bytes
 * @returns {number}
 */
function webpFrames(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 12;
  let frames = 0;
  while (pos + 8 <= bytes.length && frames < 2) {
    const size = view.getUint32(pos + 4, true);
    if (ASCII.decode(bytes.slice(pos, pos + 4)) === "ANMF") frames += 1;
    pos += 8 + size + (size & 1);
  }
  return frames;
}

/**
 * @typedef {{max_seconds: number, max_megapixels: number}} ClipLimits
 */

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
    /** @type {string | null} */ this.resultUrl = null;
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
   * @param {string} url its object URL
   * @param {{max_upload_bytes: number, clips?: ClipLimits} | null} limits
   * @returns {Promise<string | null>}
   */
  async problem(file, url, limits) {
    if (!limits) return null;
    if (file.size > limits.max_upload_bytes) {
      return `The clip is ${fileSize(file.size)}; the limit is ${fileSize(limits.max_upload_bytes)}.`;
    }
    const head = new Uint8Array(await file.slice(0, CLIP_SNIFF_BYTES).arrayBuffer());
    if (!limits.clips || !PLAYABLE.has(clipKind(head) || "")) return null;
    const seconds = await duration(url);
    if (seconds !== null && seconds > limits.clips.max_seconds) {
      return `The clip lasts ${seconds.toFixed(1)} s; the limit is ${limits.clips.max_seconds} s.`;
    }
    return null;
  }

  /**
   * Shows the chosen clip on the stage (the view has shown its name): a <video> for MP4, MOV and WebM,
   * the view's own <img> for animated GIF, WebP and PNG.
   * @param {string} url
   * @param {Uint8Array} head the file's first bytes
   */
  show(url, head) {
    this.clear();
    this.compare.classList.add("is-clip");
    const playable = PLAYABLE.has(clipKind(head) || "");
    this.compare.classList.toggle("is-clip-video", playable);
    if (playable) {
      this.before.src = url;
      this.before.hidden = false;
    }
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
    if (this.resultUrl) URL.revokeObjectURL(this.resultUrl);
    this.resultUrl = null;
  }

  /**
   * Restyles the clip as a job, with progress in frames, and shows the result over the original.
   * Raises ApiError like the photo path (app.js shows it).
   * @param {File} file
   * @param {string} styleId
   * @param {number} strength
   * @param {import("./api.js").Look} look
   * @param {string} styleName
   */
  async restyle(file, styleId, strength, look, styleName) {
    const view = this.view;
    const job = await createJob(file, styleId, strength, (sent, total) =>
      view.showProgress(sent, total, `Uploading ${fileSize(sent)} of ${fileSize(total)}…`), look);
    const frames = (/** @type {number} */ done, /** @type {number} */ total) =>
      view.showProgress(done, total, total ? `${done} of ${total} frames restyled…` : "Starting…");
    frames(0, job.total);
    const finished = await followJob(job, frames);
    const { blob, filename } = await fetchResult(finished);
    view.showProgress(finished.total, finished.total,
                      finished.total === 1 ? "Restyled its one frame" : `Restyled all ${finished.total} frames`);
    if (this.resultUrl) URL.revokeObjectURL(this.resultUrl);
    this.resultUrl = URL.createObjectURL(blob);
    view.showResult(this.resultUrl, filename, `${styleName}, version ${finished.version} · ${fileSize(blob.size)}`);
    this.after.src = this.resultUrl;
    show(true, this.after, this.play);
    this.after.currentTime = 0;
    this.before.currentTime = 0;
    view.announce("Your clip is restyled. Play both, compare them with the slider, or download it.");
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
