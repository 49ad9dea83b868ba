/**
 * Sorts the files a person picked, dropped or pasted into what the page takes and what it refuses,
 * each refusal with its reason: one bad file never costs the good ones, whether they came in the same
 * selection or were chosen before (app.js keeps those when nothing new is taken).
 */

import { decodeProblem, photoHeadProblem, shownSizeProblem } from "./file_checks.js";
import { STILL_GIF, clipKind, fileBytes, isStillGif } from "./clip_sniff.js";

/** @typedef {import("./checks.js").Limits} Limits */
/** @typedef {{file: File, problem: string}} Refusal a file the page refuses, and why */

/**
 * @typedef {object} FileChoice what the page takes of the chosen files
 * @property {File[]} photos the photos it takes, in the order chosen (the first is shown)
 * @property {string | null} url an object URL of the first photo, or of the clip
 * @property {{file: File, kind: string} | null} clip a video clip chosen on its own, and what clipKind
 *   (clip_sniff.js) told of it: all the page keeps of its bytes
 * @property {Refusal[]} refused the files it refuses, in the order chosen
 */

export const CLIP_ALONE = "A video clip is restyled on its own: choose it by itself, not with photos.";
// A zip is not taken: what the person can do instead. (Only the restyled photos come back as one zip.)
export const ZIP_ARCHIVE = "That file is a zip archive, not a photo: unzip it, then choose the photos in it " +
  "(several at once are restyled together).";

/**
 * Checks every file: a video clip on its own, or photos. Each photo's bytes and declared size meet the
 * limits; the first that passes is decoded too (it is the one shown), the next tried when it cannot be;
 * the gateway checks the others' pixels and names them.
 * @param {File[]} files
 * @param {Limits | null} limits null: the gateway checks alone
 * @param {(file: File, kind: string, url: string, limits: Limits | null) => Promise<string | null>} clipProblem
 * @returns {Promise<FileChoice>}
 */
export async function sortFiles(files, limits, clipProblem) {
  /** @type {Refusal[]} */
  const refused = [];
  /** @type {File[]} */
  const photos = [];
  for (const file of files) {
    const bytes = await fileBytes(file);
    const kind = clipKind(bytes);
    if (isStillGif(bytes)) refused.push({ file, problem: STILL_GIF });
    else if (isZip(bytes)) refused.push({ file, problem: ZIP_ARCHIVE });
    else if (kind && files.length > 1) refused.push({ file, problem: CLIP_ALONE });
    else if (kind) return takeClip(file, kind, limits, clipProblem);
    else photos.push(file);
  }
  const checked = await headChecked(photos, limits, refused);
  const url = await firstShown(checked, limits, refused);
  return { photos: checked, url, clip: null, refused: inOrder(refused, files) };
}

/**
 * @param {Uint8Array} bytes a file's first bytes
 * @returns {boolean} whether it is a zip archive: a local file header, or the end record of an empty zip
 */
function isZip(bytes) {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

/**
 * @param {File} file
 * @param {string} kind its clipKind
 * @param {Limits | null} limits
 * @param {(file: File, kind: string, url: string, limits: Limits | null) => Promise<string | null>} clipProblem
 * @returns {Promise<FileChoice>}
 */
async function takeClip(file, kind, limits, clipProblem) {
  const url = URL.createObjectURL(file);
  const problem = await clipProblem(file, kind, url, limits);
  if (!problem) return { photos: [], url, clip: { file, kind }, refused: [] };
  URL.revokeObjectURL(url);
  return { photos: [], url: null, clip: null, refused: [{ file, problem }] };
}

/**
 * @param {File[]} photos
 * @param {Limits | null} limits
 * @param {Refusal[]} refused gets the photos whose bytes or declared size fail
 * @returns {Promise<File[]>} the others
 */
async function headChecked(photos, limits, refused) {
  if (!limits) return photos;
  const passed = [];
  for (const file of photos) {
    const problem = await photoHeadProblem(file, limits);
    if (problem) refused.push({ file, problem });
    else passed.push(file);
  }
  return passed;
}

/**
 * Decodes the first photo to be shown; one the browser cannot decode is refused and taken out of
 * `photos`, and the next one tried.
 * @param {File[]} photos changed in place
 * @param {Limits | null} limits
 * @param {Refusal[]} refused
 * @returns {Promise<string | null>} the shown photo's object URL; null when none is left
 */
async function firstShown(photos, limits, refused) {
  while (photos.length) {
    const url = URL.createObjectURL(photos[0]);
    const probe = new Image();
    const problem = await decodeProblem(probe, url) || shownSizeProblem(probe, limits);
    if (!problem) return url;
    URL.revokeObjectURL(url);
    refused.push({ file: /** @type {File} */ (photos.shift()), problem });
  }
  return null;
}

/**
 * @param {Refusal[]} refused
 * @param {File[]} files
 * @returns {Refusal[]} in the order the files were chosen
 */
function inOrder(refused, files) {
  return [...refused].sort((a, b) => files.indexOf(a.file) - files.indexOf(b.file));
}

/**
 * What the page says about the refused files: one line each, naming the file when `named` (other
 * files were chosen with it, or a photo stays on the page), so it is clear which one was refused.
 * @param {Refusal[]} refused
 * @param {boolean} named
 * @returns {string[]}
 */
export function refusalLines(refused, named) {
  return refused.map(({ file, problem }) => (named ? `${file.name || "Pasted image"}: ${problem}` : problem));
}
