/**
 * Which photo a result is of, in words, also when photos share a file name (photo.jpg from two folders,
 * IMG_0001.jpg from two cameras). Each photo chosen is a photo of its own, told by its id; photos of one
 * name are numbered in the order they were chosen: "photo.jpg", "photo.jpg (2)"..., and their downloads
 * "photo-moss.jpg", "photo-moss-2.jpg"..., as a batch's zip numbers them (bff.forms.unique_name).
 */

/** @typedef {import("./store.js").Result} Result */

/**
 * @param {Result[]} results
 * @returns {Map<string, string> | null} each named photo's words by its id, e.g. "photo.jpg (2)"; null
 *   while every result is of one photo, when none needs naming
 */
export function photoLabels(results) {
  if (new Set(results.map((r) => r.photoId)).size < 2) return null;
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
  const number = numberedPhotos([result, ...listed]).get(result.photoId)?.number ?? 1;
  if (number === 1) return result.filename;
  const dot = result.filename.lastIndexOf(".");
  return dot > 0 ? `${result.filename.slice(0, dot)}-${number}${result.filename.slice(dot)}`
    : `${result.filename}-${number}`;
}

/**
 * @param {Result[]} results
 * @returns {Map<string, {name: string, number: number}>} each named photo by its id: its file name and its
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
    const known = photos.get(result.photoId);
    if (!known || earlier(order, known.order)) photos.set(result.photoId, { name: result.photoName, order });
  }
  /** @type {Map<string, Array<[string, number[]]>>} */
  const byName = new Map();
  for (const [id, { name, order }] of photos) byName.set(name, [...(byName.get(name) || []), [id, order]]);
  const numbered = new Map();
  for (const [name, named] of byName) {
    named.sort(([, a], [, b]) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0));
    named.forEach(([id], index) => numbered.set(id, { name, number: index + 1 }));
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
