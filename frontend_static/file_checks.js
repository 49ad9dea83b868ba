/**
 * Checks of a chosen photo or painting that need the browser: its first bytes and the size its header
 * declares against the limits (checks.js), then whether the browser can decode it and how many
 * pixels it has.
 */

import {
  HEADER_BYTES, cutShort, fileProblem, formatList, headerSize, paintingSizeProblem, sizeProblem, sniffFormat,
} from "./checks.js";
import { CLIP_NAMES, clipKind, fileBytes, isStillGif, stillGifProblem } from "./clip_sniff.js";

/** @typedef {import("./checks.js").Limits} Limits */

/**
 * Why a photo cannot be sent, judged from its bytes and the size its header declares; null when it may be.
 * @param {File} file
 * @param {Limits} limits
 * @returns {Promise<string | null>}
 */
export function photoHeadProblem(file, limits) {
  return headProblem(file, limits, sizeProblem, "photo");
}

/**
 * Why a decoded photo cannot be restyled for its size as the browser shows it (upright), or null.
 * @param {HTMLImageElement} probe decoded
 * @param {Limits | null} limits null: the gateway checks alone
 * @returns {string | null}
 */
export function shownSizeProblem(probe, limits) {
  return limits ? sizeProblem({ width: probe.naturalWidth, height: probe.naturalHeight }, limits) : null;
}

/**
 * Why a file cannot be sent, judged from its size, first bytes and the size its header declares
 * (before decoding: the browser refuses to decode an image far over the limit, and would call it damaged).
 * @param {File} file
 * @param {Limits} limits
 * @param {(size: import("./checks.js").Size, limits: Limits) => string | null} sizeCheck
 * @param {string} what what the file was chosen as: "photo" or "painting"
 * @returns {Promise<string | null>}
 */
async function headProblem(file, limits, sizeCheck, what) {
  // Read once: the whole file when it is within the byte limit (it is then checked for a cut), else its head.
  const whole = file.size <= limits.max_upload_bytes;
  const bytes = new Uint8Array(await (whole ? file : file.slice(0, HEADER_BYTES)).arrayBuffer());
  const head = bytes.subarray(0, HEADER_BYTES);
  const problem = fileProblem(file.size, head, limits, what);
  if (problem) return problem;
  const size = headerSize(head);
  const tooLarge = size ? sizeCheck(size, limits) : null;
  if (tooLarge) return tooLarge;
  if (!cutShort(bytes)) return null;  // fileProblem passed, so `bytes` is the whole file
  const label = sniffFormat(head, limits.formats)?.label || "image";
  return `That ${label} image is cut short or damaged and cannot be read.`;
}

/**
 * Why the browser cannot decode the image at `url` into `probe`, or null once it has.
 * @param {HTMLImageElement} probe
 * @param {string} url
 * @returns {Promise<string | null>}
 */
export async function decodeProblem(probe, url) {
  probe.src = url;
  try {
    await probe.decode();
  } catch {
    return "That file cannot be read as an image: it may be damaged or cut short.";
  }
  return null;
}

/**
 * Why a painting cannot be used, or null. Its pixels are held to the style image's limit, not the
 * photo's: the server reads a style image at the encoder's small size. An animated GIF, WebP or PNG of
 * several frames is a clip, not a painting (the gateway's 415 style_image_is_clip), and a one-frame GIF
 * is refused as the gateway refuses it (still_gif).
 * @param {File} file
 * @param {string} url its object URL
 * @param {Limits | null} limits null: the gateway checks alone
 * @returns {Promise<string | null>}
 */
export async function paintingProblem(file, url, limits) {
  // An animation or a one-frame GIF gets the gateway's answers (bff/look_form.py, 415 style_image_is_clip
  // and still_gif) before the format check, which calls any GIF "not a PNG, JPEG or WebP image"; a file
  // over the byte limit is not read whole for it (that check then says so).
  if (!limits || file.size <= limits.max_upload_bytes) {
    const bytes = await fileBytes(file);
    const clip = clipKind(bytes);
    const still = limits ? `${formatList(limits.formats)} picture` : "picture";
    if (clip) return `That file is ${CLIP_NAMES[clip]} clip of several frames; a style is one still ${still}.`;
    if (isStillGif(bytes)) return stillGifProblem("painting");
  }
  if (limits) {
    const problem = await headProblem(file, limits, paintingSizeProblem, "painting");
    if (problem) return problem;
  }
  return decodeProblem(new Image(), url);
}
