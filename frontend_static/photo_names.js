/**
 * Which photo a result is of, in words, also when photos share a file name (photo.jpg from two folders,
 * IMG_0001.jpg from two cameras). A photo is told by its content (photoKey: the same file chosen again,
 * or a batch's photo chosen again from the gateway's copy, is the same photo under a new upload id);
 * photos of one name (in any case) are numbered in the order they were chosen: "photo.jpg", "photo.jpg (2)"..., and
 * their downloads "photo-moss.jpg", "photo-moss-2.jpg"..., as a batch's zip numbers them
 * (bff.forms.unique_name); each download then says what else made it (downloadName).
 */

import { brushOf } from "./brushes.js";

/** @typedef {import("./store.js").Result} Result */

/**
 * A key of a photo's content: the SHA-256 of its bytes, or, where the browser offers no Web Crypto (a
 * page served over plain HTTP beyond localhost) or the file cannot be read again, its name and byte
 * count (two photos of one name and byte count are then taken for one).
 * @param {Blob & {name?: string}} file
 * @returns {Promise<string>}
 */
export async function photoKey(file) {
  const plain = `${file.name || ""}:${file.size}`;
  if (!globalThis.crypto?.subtle) return plain;
  try {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
    return Array.from(digest.slice(0, 16), (byte) => byte.toString(16).padStart(2, "0")).join("");
  } catch {
    return plain;  // the file can no longer be read (changed on disk since it was chosen): never a failure
  }
}

/**
 * @param {Result} result
 * @returns {string} which photo it is of: its content's key (results kept before 2026-12-04: the upload id)
 */
export function photoOf(result) {
  return result.photoKey || result.photoId;
}

/**
 * @param {Result[]} results
 * @returns {Map<string, string> | null} each named photo's words by photoOf, e.g. "photo.jpg (2)"; null
 *   while every result is of one photo, when none needs naming
 */
export function photoLabels(results) {
  if (new Set(results.map(photoOf)).size < 2) return null;
  const labels = new Map();
  for (const [id, { name, number }] of numberedPhotos(results)) {
    labels.set(id, number > 1 ? `${name} (${number})` : name);
  }
  return labels;
}

/**
 * The download name of a new single photo's result, numbered as its photo is among the listed ones of
 * its name: "photo-moss-2.jpg" for the second photo called photo.jpg (the gateway, which restyles one
 * photo at a time, cannot know of the first).
 * @param {Result} result a new result, not listed yet
 * @param {Result[]} listed the results listed so far
 * @returns {string}
 */
export function ownFilename(result, listed) {
  const number = numberedPhotos([result, ...listed]).get(photoOf(result))?.number ?? 1;
  return unusedFilename(numbered(result.filename, number), result, listed);
}

/**
 * The download name of a new result: `result.filename`, numbered further while a listed result of
 * another photo downloads under that name (in any case). A batch's photos are numbered by the gateway
 * within their batch (bff.forms.unique_name), so a batch's photo.jpg after a single photo.jpg came back
 * as photo-moss.jpg a second time; now it is photo-moss-2.jpg. The same photo restyled again may reuse
 * its name.
 * @param {string} filename the name it would have
 * @param {Result} result a new result, not listed yet
 * @param {Result[]} listed the results listed so far
 * @returns {string}
 */
export function unusedFilename(filename, result, listed) {
  const taken = new Set(listed.filter((other) => photoOf(other) !== photoOf(result))
    .map((other) => other.filename.toLowerCase()));
  let candidate = filename;
  for (let number = 2; taken.has(candidate.toLowerCase()); number += 1) candidate = numbered(filename, number);
  return candidate;
}

/**
 * What a result's file downloads as: its photo's name and its style (`result.filename`, numbered as its
 * photo is: ownFilename), then what else made it, so that two different files never share one name:
 * a conditioned style's look (its preset's id, or "painting" for the person's own, then a mix's second
 * preset and share: "mosaic-with-swirls-30"), the strength the file holds when below 100% ("strength-40"),
 * the brush when not the default ("brush-2x", brushes.js) and "own-colours" when it kept the photo's
 * colours. The one name of a file, wherever the page offers it: the stage's Download, the list's links.
 * @param {Result} result
 * @param {number} [strength] the strength the file holds: the one it was made at (the server's file), or
 *   the one a pixel mix is shown at when the page mixes the file itself (live_mix.js)
 * @returns {string} e.g. "coffee-any-painting-mosaic.png", "chelsea-blue-ink-strength-40-own-colours.jpg"
 */
export function downloadName(result, strength = result.madeAt) {
  const words = lookWords(result);
  const percent = Math.round(strength * 100);
  if (percent < 100) words.push(`strength-${percent}`);
  const brush = brushOf(result.scale).file;
  if (brush) words.push(brush);
  if (result.keepColors) words.push("own-colours");
  return words.length ? suffixed(result.filename, `-${words.join("-")}`) : result.filename;
}

/**
 * @param {Result} result
 * @returns {string[]} the words of a conditioned style's look: ["mosaic"], ["painting", "with", "swirls",
 *   "30"]; none for a fixed style (results kept before a look recorded its painting and mix: the preset alone)
 */
function lookWords(result) {
  if (!result.look && !result.preset) return [];
  const words = [result.look?.painting ? "painting" : result.preset || "look"];
  const { mixWith, mix } = result.look || {};
  if (mixWith) words.push("with", mixWith, String(Math.round((mix ?? 0) * 100)));
  return words;
}

/**
 * @param {string} filename
 * @param {number} number from 1
 * @returns {string} "photo-moss-2.jpg" for ("photo-moss.jpg", 2); the name itself for 1
 */
function numbered(filename, number) {
  return number === 1 ? filename : suffixed(filename, `-${number}`);
}

/**
 * @param {string} filename
 * @param {string} suffix
 * @returns {string} `suffix` before the extension: "photo-moss-2.jpg" for ("photo-moss.jpg", "-2")
 */
function suffixed(filename, suffix) {
  const dot = filename.lastIndexOf(".");
  return dot > 0 ? `${filename.slice(0, dot)}${suffix}${filename.slice(dot)}` : `${filename}${suffix}`;
}

/**
 * @param {Result[]} results
 * @returns {Map<string, {name: string, number: number}>} each named photo by photoOf: its file name and its
 *   number among the photos of that name, from 1, in the order they were chosen
 */
function numberedPhotos(results) {
  /** @type {Map<string, {name: string, order: number[]}>} */
  const photos = new Map();
  for (const result of results) {
    if (!result.photoName) continue;  // kept before results named their photo
    // A single photo is chosen a while before its first result, and one photo at a time: that result's
    // time orders it among the others.
    const order = result.photoOrder ?? [result.time, 0];
    const known = photos.get(photoOf(result));
    if (!known || earlier(order, known.order)) photos.set(photoOf(result), { name: result.photoName, order });
  }
  // Names that differ only in case are one name, as the zip and the folders people save to take them
  // (bff.forms.unique_name): Photo.JPG after photo.jpg is "Photo.JPG (2)" and downloads numbered 2.
  /** @type {Map<string, Array<[string, number[], string]>>} */
  const byName = new Map();
  for (const [id, { name, order }] of photos) {
    const key = name.toLowerCase();
    byName.set(key, [...(byName.get(key) || []), [id, order, name]]);
  }
  const numbered = new Map();
  for (const named of byName.values()) {
    named.sort(([, a], [, b]) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0));
    named.forEach(([id, , name], index) => numbered.set(id, { name, number: index + 1 }));
  }
  return numbered;
}

/**
 * @param {number[]} a
 * @param {number[]} b
 * @returns {boolean} whether `a` comes before `b`, number by number
 */
function earlier(a, b) {
  const at = a.findIndex((n, i) => n !== b[i]);
  return at >= 0 && a[at] < b[at];
}
