/**
 * What a visit keeps across reloads, in sessionStorage (one tab's visit): the uploaded photo's id,
 * the results made so far (with their expiring links) and the job still running. Pure data in, pure
 * data out: the view never reads storage, and nothing here touches the DOM.
 */

/**
 * @typedef {object} SavedPhoto the photo as the gateway holds it
 * @property {string} id the gateway's photo id
 * @property {string} name file name (or "Pasted image")
 * @property {number} width upright size in pixels
 * @property {number} height
 * @property {number | null} expiresAt when the gateway forgets it, ms since the epoch (null: unknown)
 * @property {string} imageUrl the photo as uploaded, on the gateway
 * @property {string} thumbnailUrl the photo at preview size
 * @property {string} [key] a key of its content (photo_names.photoKey), when the page had the file
 * @property {string} previewsUrl the list of its previews
 */

/**
 * @typedef {object} Result one finished restyle of the visit
 * @property {string} id the job's id
 * @property {string} style style id
 * @property {string} styleName
 * @property {string | null} preset preset id of a conditioned style
 * @property {number} strength strength it is shown with, 0 to 1
 * @property {number} madeAt strength the server made it with (1 for a pixel mix, mixed in the page)
 * @property {boolean} pixelMix whether strength mixes the result with the photo pixel by pixel
 * @property {string} scale brush scale it was made with: "auto" or the working scale in (0, 1]
 * @property {boolean} [keepColors] whether it kept the photo's colours (not in results kept before 2026-12-04)
 * @property {number} time when it finished, ms since the epoch
 * @property {string} url the result's link on the gateway
 * @property {number | null} expiresAt when that link stops working (null: unknown)
 * @property {string} filename its photo's name and style, as the gateway names the file, numbered as its photo
 *   is among the visit's ("photo-moss-2.jpg"); it downloads under photo_names.downloadName, which says the rest
 * @property {number} version the model version that made it
 * @property {number} bytes size of the file made by the server
 * @property {string} thumb a small JPEG data: URL
 * @property {string} photoId the photo it was made from: its upload id, or a batch's `<job id>/photo`
 * @property {string} [photoKey] a key of that photo's content (photo_names.photoKey): the same photo uploaded
 *   twice has two ids and one key (not in results kept before 2026-12-04)
 * @property {string | null} [photoUrl] that photo on the gateway, for a page that no longer has it: a
 *   batch's, kept as long as the result (none for one photo's result: the visit's photo is kept by id)
 * @property {string} [photoName] the file name of the photo it was made from, which the list names while
 *   it holds results of more than one photo (results kept before 2026-12-03 have it only from a batch)
 * @property {[number, number]} [photoOrder] when its photo was sent to be restyled (ms since the epoch)
 *   and its place in that batch: a batch's photos that share a name are numbered in this order
 *   (photo_names.js; a single photo's result has none, its time orders its photo)
 * @property {ResultLook | null} [look] the look of a conditioned style (none for a fixed style, nor for
 *   results kept before looks were)
 * @property {{ realism: string, gradcam: string } | null} [maps] the critic's heat maps (docs/explain.md)
 */

/**
 * @typedef {object} ResultLook what a conditioned style's result was painted like (result_look.js)
 * @property {string} name e.g. "Mosaic", "your painting (monet.jpg) mixed with Swirls at 60%"
 * @property {string | null} image a picture of it: the preset's preview, or the painting as a data: URL
 * @property {boolean} [painting] whether it was the person's own painting (else the result's preset)
 * @property {string | null} [mixWith] the id of the preset mixed in, if any
 * @property {number} [mix] that preset's share, 0 to 1 (looks kept by an older page have none of these three)
 */

/**
 * @typedef {object} Choices what the controls were set to, so that a reload keeps them
 * @property {string | null} style
 * @property {string | null} preset
 * @property {string} scale
 * @property {string} [mixWith] a conditioned style's second preset in a mix ("" for none; not in visits kept
 *   before 2026-12-03, nor are the next two)
 * @property {number} [mix] the second preset's share, 0 to 1
 * @property {boolean} [keepColors] whether the result keeps the photo's colours
 * @property {number} [strength] the strength slider, 0 to 1 (not in visits kept before 2026-12-04, nor is the next)
 * @property {string | null} [painting] the file name of the person's own painting, which is not kept itself
 */

/**
 * @typedef {object} Running a job the page follows; kept so that a reload follows it again
 * @property {string} id
 * @property {string} statusUrl
 * @property {string} eventsUrl
 * @property {string} [cancelUrl]
 * @property {Omit<Result, "id" | "time" | "url" | "expiresAt" | "filename" | "thumb" | "version" | "bytes">} order
 *   what it makes
 * @property {number} started ms since the epoch
 */

/**
 * @typedef {object} SavedBatch a batch the page follows, or offers the zip of once it has ended; kept so
 *   that a reload follows it again, lists the photos it finished meanwhile and offers its zip again
 * @property {string} statusUrl the batch's status on the gateway (GET /api/batches/<id>)
 * @property {Running["order"]} made what every photo is made with (its photoId is set per photo)
 * @property {string[]} keys a key of each photo's content, in the order sent (photo_names.photoKey)
 * @property {number} sent when the photos were sent, ms since the epoch (it orders them: photo_names.js)
 * @property {string[]} listed the job ids of its photos already listed (or given up on), never listed twice
 * @property {string[]} [names] each photo's file name, in the order sent: the name line says them again
 *   after a reload (not in batches kept before 2026-12-05)
 */

const KEY = "tessera.visit.v1";
// Results beyond this many are dropped, oldest first (each keeps a ~5 kB thumbnail in storage).
export const MAX_RESULTS = 24;

/**
 * @typedef {{photo: SavedPhoto | null, results: Result[], running: Running | null, choices?: Choices,
 *   batch?: SavedBatch | null, uploads?: SavedPhoto[]}} Visit uploads: every photo the visit uploaded and
 *   has not deleted yet (kept_photos.js; not in visits kept before 2026-12-05)
 */

/** @returns {Visit} */
function read() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (saved && Array.isArray(saved.results)) return saved;
  } catch {
    // Storage full of something else, or switched off: start empty.
  }
  return { photo: null, results: [], running: null };
}

/** @param {Visit} visit */
function write(visit) {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(visit));
  } catch {
    // Over quota or storage switched off: the visit is simply not kept across a reload.
  }
}

/**
 * @param {number} now ms since the epoch
 * @returns {Visit} the visit so far, without what has expired
 */
export function loadVisit(now = Date.now()) {
  const visit = read();
  const alive = (/** @type {{expiresAt: number | null}} */ item) => item.expiresAt === null || item.expiresAt > now;
  visit.results = visit.results.filter(alive);
  if (visit.photo && !alive(visit.photo)) visit.photo = null;
  if (visit.uploads) visit.uploads = visit.uploads.filter(alive);
  return visit;
}

/** @param {SavedPhoto | null} photo the photo now on the page (null: none) */
export function savePhoto(photo) {
  write({ ...read(), photo });
}

/**
 * Adds a result at the front of the list, or replaces the one with its id.
 * @param {Result} result
 * @returns {Result[]} the list now
 */
export function saveResult(result) {
  const visit = read();
  visit.results = [result, ...visit.results.filter((r) => r.id !== result.id)].slice(0, MAX_RESULTS);
  write(visit);
  return visit.results;
}

/** @param {Choices} choices the controls now */
export function saveChoices(choices) {
  write({ ...read(), choices });
}

/** @param {Running | null} running the job being followed, or null when it has ended */
export function saveRunning(running) {
  write({ ...read(), running });
}

/** @param {SavedBatch | null} batch the batch on the page (running, or its zip on offer), or null for none */
export function saveBatch(batch) {
  write({ ...read(), batch });
}

/** @param {SavedPhoto[]} uploads the photos the visit keeps on the gateway (kept_photos.js) */
export function saveUploads(uploads) {
  write({ ...read(), uploads });
}

/**
 * Whether this page load is a reload of the same tab, as opposed to a tab that got a copy of the visit
 * while its own page was still open (a duplicated tab, window.open), which must not act on the other
 * tab's uploads as its own. Told by the navigation's type (a duplicated tab's is not "reload").
 * @returns {boolean}
 */
export function followsThisTab() {
  const [navigation] = /** @type {PerformanceNavigationTiming[]} */ (performance.getEntriesByType("navigation"));
  return navigation?.type === "reload";
}
