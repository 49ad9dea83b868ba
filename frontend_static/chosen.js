/**
 * What a person has chosen to restyle (a photo, a batch or a clip, held in app.js's state) and what a
 * photo chosen in its place sets aside: the choice as the person had it, with its previews, the result
 * on the stage, a batch's zip and a clip's result. It comes back if the gateway refuses the new photo
 * (app.js putBack), and is let go once the gateway takes it. Each object URL is freed here, once
 * nothing can show it again.
 */

/** @typedef {import("./store.js").SavedPhoto} SavedPhoto */

/**
 * @typedef {object} Chosen a choice set aside
 * @property {File | null} file the photo or clip as chosen; null after a reload (the gateway has it by id)
 * @property {File[]} batch the photos of a batch; empty for one photo or a clip
 * @property {string[]} batchUrls an object URL of each photo of a batch (the first is photoUrl)
 * @property {string | null} photoUrl the photo or clip shown
 * @property {SavedPhoto | null} photo the photo as uploaded once
 * @property {import("./api.js").Preview[]} previews the previews the gateway offers for the photo
 * @property {string | null} clip the kind of a video clip (clip_sniff.js clipKind), null for photos
 * @property {{url: string, meta: string} | null} zip the zip of a batch's results, once made
 * @property {string | null} example the example photo's file name when it is one (its button is marked)
 * @property {{results: import("./results.js").SetAside, clip: import("./video.js").ClipResult | null}} stage
 *   what the stage showed of it
 */

/**
 * @typedef {Omit<Chosen, "stage"> & {uploading: Promise<SavedPhoto | null> | null, fallback: Chosen | null}} ChosenNow
 *   what is chosen now: a photo still uploading holds, as fallback, what it would give back
 */

/**
 * Takes what is chosen now off the stage, to come back if the photo replacing it is refused: an
 * uploaded photo, a batch or a clip. A photo still uploading passes on what it would give back, so
 * the choice before it comes back.
 * @param {ChosenNow} choice
 * @param {import("./results.js").Results} results
 * @param {import("./video.js").ClipStage} clips
 * @returns {Chosen | null} null when nothing can come back
 */
export function setAside(choice, results, clips) {
  if (choice.uploading) return choice.fallback;
  const { file, batch, batchUrls, photoUrl, photo, previews, clip, zip, example } = choice;
  if (!photoUrl || (!photo && !batch.length && !clip)) return null;
  return { file, batch, batchUrls, photoUrl, photo, previews, clip, zip, example,
           stage: { results: results.setAside(), clip: clip ? clips.setAside() : null } };
}

/**
 * Lets the browser free the object URLs of what is chosen now and of what its upload would give back,
 * all but those `kept` holds (what stays, or comes back); the upload then gives nothing back.
 * @param {ChosenNow} choice
 * @param {Chosen | null} kept
 */
export function letGo(choice, kept) {
  forgetAllBut([choice.photoUrl, ...choice.batchUrls, ...urlsOf(choice.fallback)], urlsOf(kept));
  choice.fallback = null;
}

/**
 * The upload under way has answered: what it would have given back can go.
 * @param {ChosenNow} choice
 */
export function forgetFallback(choice) {
  forgetAllBut(urlsOf(choice.fallback), [choice.photoUrl, ...choice.batchUrls]);
  choice.fallback = null;
}

/**
 * @param {Chosen | null} chosen
 * @returns {(string | null | undefined)[]} the object URLs it holds: its photos' and its clip's result's
 */
function urlsOf(chosen) {
  return chosen ? [chosen.photoUrl, ...chosen.batchUrls, chosen.stage.clip?.url] : [];
}

/**
 * @param {(string | null | undefined)[]} urls
 * @param {(string | null | undefined)[]} kept
 */
function forgetAllBut(urls, kept) {
  for (const url of new Set(urls)) if (url && !kept.includes(url)) URL.revokeObjectURL(url);
}
