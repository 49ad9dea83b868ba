/**
 * Talks to the gateway's HTTP API. Every failure becomes an ApiError whose message a person can read.
 */

/** @typedef {import("./template.js").Style} Style */

/**
 * @typedef {object} Look how a conditioned style should paint, and whether to keep the photo's colours
 * @property {string | null} [preset] a preset id of the style
 * @property {File | null} [painting] the person's own painting (wins over the preset)
 * @property {string} [mixWith] a second preset to mix in ("" for none)
 * @property {number} [mix] share of the second preset, 0 to 1
 * @property {boolean} [keepColors]
 * @property {boolean} [explain] also draw what the style's critic sees (styles with has_critic)
 */

/**
 * @typedef {object} Job
 * @property {string} id
 * @property {"queued" | "running" | "done" | "failed"} state
 * @property {number} done
 * @property {number} total
 * @property {string} events_url
 * @property {string} result_url
 * @property {number} [version] model version that made the result, once done
 * @property {number} [status] HTTP status of the failure, once failed (the job's "status" field)
 * @property {string} [message] why it failed
 * @property {string} [error] the failure's code, e.g. "cancelled"
 * @property {string} status_url
 * @property {number | null} [queue_position] 1 = next to run, while queued (when the gateway says)
 * @property {number | null} [eta_s] seconds left by the gateway's measure (when it says)
 * @property {string | null} [expires_at] when the result stops being kept (ISO 8601, when it says)
 * @property {{ realism: string, gradcam: string }} [maps] heat map URLs, once done, when asked to explain
 */

export class ApiError extends Error {
  /**
   * @param {string} message a sentence for people
   * @param {number} status HTTP status, 0 when the gateway could not be reached
   * @param {string} [code] the gateway's error code, e.g. "cancelled"
   * @param {string} [field] the form file it is about, when the gateway names one ("style_image")
   */
  constructor(message, status, code = "", field = "") {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
  }

  /** Whether asking again later may succeed: the gateway unreachable, or the servers starting, down or slow. */
  get transient() {
    return [0, 502, 503, 504].includes(this.status);
  }
}

const UNREACHABLE = "The Tessera gateway cannot be reached. Check your connection and try again.";

/**
 * fetch() that turns network failures and JSON error bodies into ApiError.
 * @param {string} url
 * @param {RequestInit} [init]
 * @returns {Promise<Response>}
 */
async function request(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(UNREACHABLE, 0);
  }
  if (response.ok) return response;
  throw errorFrom(response.status, await response.text());
}

/**
 * The ApiError for a failed response: the gateway's JSON message, or a generic sentence.
 * @param {number} status
 * @param {string} body
 * @returns {ApiError}
 */
function errorFrom(status, body) {
  try {
    const parsed = JSON.parse(body);
    if (parsed && typeof parsed.message === "string" && parsed.message) {
      const text = (/** @type {unknown} */ value) => (typeof value === "string" ? value : "");
      return new ApiError(parsed.message, status, text(parsed.error), text(parsed.field));
    }
  } catch {
    // Not JSON (a proxy's error page, say): fall through to the generic sentence.
  }
  return new ApiError(`The gateway answered with HTTP ${status}.`, status);
}

/** @returns {Promise<import("./checks.js").Limits>} the upload limits the gateway checks against */
export async function fetchLimits() {
  const response = await request("./api/limits");
  return response.json();
}

/** @returns {Promise<Style[]>} */
export async function fetchStyles() {
  const response = await request("./api/styles");
  return (await response.json()).styles;
}

/**
 * @typedef {object} Photo a photo the gateway keeps for a while, restyled by id
 * @property {string} id unguessable
 * @property {number} width
 * @property {number} height
 * @property {number | null} expiresAt ms since the epoch (null: not said)
 * @property {string} imageUrl the photo as uploaded (for a page that reloads without it)
 * @property {string} thumbnailUrl the photo at preview size, the pixels every preview is made from
 * @property {string} previewsUrl the list of its previews
 */

/**
 * @typedef {object} Preview one preview the gateway offers for a photo: the style and preset it is made
 *   in, and where to fetch it (how a restyle should paint is a Look)
 * @property {string} style style id
 * @property {string | null} preset preset id of a conditioned style
 * @property {string} name e.g. "Moss" or "Any painting: Swirls"
 * @property {string | null} strength_mode "pixel_mix" or "style_code"
 * @property {boolean} [featured] in the grid shown at once (the others under "More looks")
 * @property {string} url the preview at strength 1
 */

/**
 * Uploads a photo once; every preview, restyle and job of it then names its id.
 * @param {File} file
 * @param {(sent: number, total: number) => void} onUpload
 * @returns {Promise<Photo>}
 */
export async function uploadPhoto(file, onUpload) {
  const form = new FormData();
  form.append("image", file, file.name || "pasted.png");
  return photoOf(await send("./api/photos", form, onUpload, 201));
}

/**
 * A photo the gateway still keeps, by its id (an earlier photo of the visit, shown again).
 * @param {string} photoId
 * @returns {Promise<Photo>} rejects with an ApiError (404 once the gateway has forgotten it)
 */
export async function fetchPhoto(photoId) {
  return photoOf(await (await request(`./api/photos/${encodeURIComponent(photoId)}`)).json());
}

/**
 * Asks the gateway to forget a photo now (jobs made from it keep their own copy); one it no longer
 * keeps is forgotten already.
 * @param {string} photoId
 * @returns {Promise<void>} rejects with an ApiError when the gateway could not be asked
 */
export async function deletePhoto(photoId) {
  try {
    await request(`./api/photos/${encodeURIComponent(photoId)}`, { method: "DELETE" });
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
}

/**
 * @param {any} body the gateway's description of a photo (POST and GET /api/photos)
 * @returns {Photo}
 */
function photoOf(body) {
  return { id: body.id, width: body.width, height: body.height, expiresAt: expiry(body), imageUrl: body.image_url,
           thumbnailUrl: body.thumbnail_url, previewsUrl: body.previews_url };
}

/**
 * @param {string} previewsUrl a photo's list of previews
 * @returns {Promise<Preview[]>} every style and preset it can be previewed in
 */
export async function fetchPreviews(previewsUrl) {
  return (await (await request(previewsUrl)).json()).previews;
}

/**
 * When the gateway forgets something it keeps: the `expires_at` of a photo (seconds since the epoch),
 * of a job's status or of a batch's photo (ISO 8601). The page's one reading of it.
 * @param {{expires_at?: string | number | null}} body a photo's, a job's or a batch photo's JSON
 * @returns {number | null} ms since the epoch; null when the gateway gave none
 */
export function expiry(body) {
  if (body.expires_at == null) return null;
  const time = typeof body.expires_at === "number" ? body.expires_at * 1000 : Date.parse(body.expires_at);
  return Number.isFinite(time) ? time : null;
}

/**
 * @typedef {object} Order what a job should make
 * @property {string} style
 * @property {number} strength from 0 to 1
 * @property {string} scale brush scale: "auto" or the working resolution per side, in (0, 1]
 * @property {Look} look painting, preset, mix and keep-colours
 */

/**
 * URL of a preview (about 512 px) at a strength and brush scale.
 * @param {string} url the preview's URL at strength 1, as the gateway lists it
 * @param {{strength?: number, scale?: string, keepColors?: boolean}} [options] scale: only when the person
 *   chose one (the grid is then the full result at that scale, shrunk; without it, the cheap grid at
 *   512 px); keepColors: the preview keeps the photo's colours, as the restyle will
 * @returns {string}
 */
export function previewUrl(url, options = {}) {
  const [path, search] = url.split("?");
  const query = new URLSearchParams(search || "");
  if (options.strength !== undefined && options.strength < 1) query.set("strength", String(options.strength));
  if (options.scale !== undefined && options.scale !== "auto") query.set("scale", options.scale);
  if (options.keepColors) query.set("keep_colors", "true");
  return query.toString() ? `${path}?${query}` : path;
}

/**
 * Queues a job for an uploaded photo (by id: nothing is uploaded again).
 * @param {string} photoId
 * @param {Order} order
 * @returns {Promise<Job>}
 */
export function createPhotoJob(photoId, order) {
  const form = new FormData();
  form.append("photo_id", photoId);
  form.append("scale", order.scale);
  if (order.look.explain) form.append("explain", "true");  // a photo's only: clips and batches have no maps
  return upload("./api/jobs", form, order.style, order.strength, () => {}, order.look);
}

/**
 * Uploads a file (a video clip) and queues a job for it.
 * @param {File} file
 * @param {string} style
 * @param {number} strength from 0 to 1
 * @param {(sent: number, total: number) => void} onUpload
 * @param {Look} [look] painting, preset, mix and keep-colours
 * @returns {Promise<Job>}
 */
export function createJob(file, style, strength, onUpload, look = {}) {
  const form = new FormData();
  form.append("image", file, file.name);
  return upload("./api/jobs", form, style, strength, onUpload, look);
}

/**
 * Asks the gateway to stop a job; it ends as failed with error "cancelled".
 * @param {Job} job
 */
export async function cancelJob(job) {
  // POST .../cancel, not DELETE: a job that finished while this travels keeps its result (DELETE discards it).
  await request(`${job.status_url}/cancel`, { method: "POST" });
}

/**
 * @param {string} statusUrl
 * @returns {Promise<Job>} the job's state now
 */
export async function fetchJob(statusUrl) {
  return (await request(statusUrl)).json();
}

/**
 * @typedef {object} Batch
 * @property {string} id
 * @property {"running" | "finished"} state
 * @property {number} total_photos
 * @property {number} finished_photos
 * @property {number} done_photos
 * @property {number} failed_photos
 * @property {string} status_url
 * @property {string} result_url the zip of every result
 * @property {BatchPhoto[]} [photos] each photo's job, in the order sent
 */

/**
 * @typedef {Job & {name: string, image_url?: string}} BatchPhoto one photo of a batch: its job (with
 *   expires_at once finished) and, while the gateway keeps it, the photo as uploaded at image_url
 */

/**
 * Uploads several photos with one set of options; one job per photo.
 * @param {File[]} files
 * @param {Order} order
 * @param {(sent: number, total: number) => void} onUpload
 * @returns {Promise<Batch>}
 */
export function createBatch(files, order, onUpload) {
  const form = new FormData();
  for (const file of files) form.append("images", file, file.name);
  form.append("scale", order.scale);
  return upload("./api/batches", form, order.style, order.strength, onUpload, order.look);
}

const BATCH_POLL_MS = 500;
// A poll that fails for a reason that passes (no connection, a gateway restarting, a proxy's 502, 429)
// is tried again, later each time; only this many failures in a row count as losing the gateway.
const MAX_POLL_FAILURES = 10;

/**
 * Polls a batch until every photo has ended.
 * @param {string} statusUrl the batch's status_url
 * @param {(finished: number, total: number, current: Batch) => void} onProgress
 * @param {(lost: boolean) => void} [onContact] told when a poll fails and is tried again (true), and
 *   when one answers again (false), as followJob tells of its stream
 * @returns {Promise<Batch>} rejects with an ApiError (404 once the gateway has forgotten the batch)
 */
export async function followBatch(statusUrl, onProgress, onContact = () => {}) {
  let failures = 0;
  for (;;) {
    let current;
    try {
      current = /** @type {Batch} */ (await (await request(statusUrl)).json());
    } catch (error) {
      const passing = error instanceof ApiError && (error.status === 0 || error.status === 429 || error.status >= 500);
      if (!passing || ++failures > MAX_POLL_FAILURES) throw error;
      onContact(true);
      await new Promise((resolve) => setTimeout(resolve, BATCH_POLL_MS * failures));
      continue;
    }
    if (failures) onContact(false);
    failures = 0;
    onProgress(current.finished_photos, current.total_photos, current);
    if (current.state === "finished") return current;
    await new Promise((resolve) => setTimeout(resolve, BATCH_POLL_MS));
  }
}

/**
 * Posts a form of photos with the options added.
 * @param {string} url
 * @param {FormData} form
 * @param {string} style
 * @param {number} strength
 * @param {(sent: number, total: number) => void} onUpload
 * @param {Look} look
 * @returns {Promise<any>} the 202 answer's JSON
 */
function upload(url, form, style, strength, onUpload, look) {
  form.append("style", style);
  form.append("strength", String(strength));
  if (look.keepColors) form.append("keep_colors", "true");
  if (look.painting) form.append("style_image", look.painting, look.painting.name || "painting");
  else if (look.preset) form.append("preset", look.preset);
  if (look.mixWith && (look.painting || look.preset)) {
    form.append("mix_preset", look.mixWith);
    form.append("mix", String(look.mix ?? 0.5));
  }
  return send(url, form, onUpload, 202);
}

/**
 * Posts a form with XMLHttpRequest rather than fetch, because only it reports upload progress,
 * and a large photo on a slow connection takes a while.
 * @param {string} url
 * @param {FormData} form
 * @param {(sent: number, total: number) => void} onUpload
 * @param {number} expected the status of success
 * @returns {Promise<any>} the answer's JSON
 */
function send(url, form, onUpload, expected) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onUpload(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === expected) resolve(JSON.parse(xhr.responseText));
      else reject(errorFrom(xhr.status, xhr.responseText));
    });
    xhr.addEventListener("error", () => reject(new ApiError(UNREACHABLE, 0)));
    xhr.send(form);
  });
}

// EventSource reconnects by itself after a dropped connection, and the gateway then resends the
// job's current state; only this many failed attempts in a row count as losing the gateway.
const MAX_RECONNECTS = 5;

/**
 * Follows a job's Server-Sent Events until it is done.
 * @param {Job} job
 * @param {(done: number, total: number, snap: Job) => void} onProgress
 * @param {(lost: boolean) => void} [onContact] told when the stream breaks and the browser is trying to
 *   reconnect (true), and when it is connected again (false)
 * @returns {Promise<Job>} the final job snapshot, with result_url; rejects with ApiError if it failed
 */
export function followJob(job, onProgress, onContact = () => {}) {
  return new Promise((resolve, reject) => {
    const source = new EventSource(job.events_url);
    let failures = 0;
    /** @param {MessageEvent} event */
    const parse = (event) => JSON.parse(event.data);
    let lost = false;
    const contact = (/** @type {boolean} */ now) => {
      if (now !== lost) onContact((lost = now));
    };
    source.addEventListener("open", () => contact(false));
    source.addEventListener("progress", (event) => {
      failures = 0;
      const snap = parse(event);
      onProgress(snap.done, snap.total, snap);
    });
    source.addEventListener("done", (event) => {
      source.close();
      const snap = parse(event);
      onProgress(snap.total, snap.total, snap);
      resolve(snap);
    });
    // The same name carries the job's own "error" event (with data) and the browser's connection error.
    source.addEventListener("error", (event) => {
      if (event instanceof MessageEvent && event.data) {
        source.close();
        const snap = parse(event);
        reject(new ApiError(snap.message, snap.status, snap.error));
        return;
      }
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures > MAX_RECONNECTS) {
        source.close();
        reject(new ApiError("Lost contact with the gateway while restyling. Please try again.", 0));
      } else {
        contact(true);  // the browser tries again by itself (EventSource's own retry)
      }
    });
  });
}

/**
 * Downloads a finished job's image.
 * @param {Job} job
 * @returns {Promise<{blob: Blob, filename: string}>}
 */
export async function fetchResult(job) {
  const response = await request(job.result_url);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  return { blob: await response.blob(), filename: match ? match[1] : "tessera-result" };
}
