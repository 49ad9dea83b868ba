/**
 * Wires the page: state lives here, the view reports what the person does, the API does the work.
 */

import { ApiError, createBatch, createPhotoJob, fetchLimits, fetchPhoto, fetchPreviews, fetchStyles, followBatch,
         previewUrl } from "./api.js";
import { BatchResults, isBatchPhoto } from "./batch_results.js";
import { limitsHint } from "./checks.js";
import { forgetFallback, letGo, setAside } from "./chosen.js";
import { CriticView } from "./critic.js";
import { byId } from "./dom.js";
import { paintingProblem } from "./file_checks.js";
import { anchorFocus } from "./focus_anchor.js";
import { JobFlow } from "./job_flow.js";
import { KeptPhotos, isNoRoom, noRoomMessage } from "./kept_photos.js";
import { strengthMixesPixels } from "./live_mix.js";
import { fitLook, styleLook } from "./look_fit.js";
import { watchMovedOn } from "./moved_on.js";
import { LookView } from "./painting.js";
import { photoKey } from "./photo_names.js";
import { refusalLines, sortFiles } from "./photo_choice.js";
import { PreviewsView, choicesOf } from "./previews.js";
import { lookName, resultLook } from "./result_look.js";
import { Results } from "./results.js";
import { ResultsView } from "./results_view.js";
import { loadVisit, saveBatch, saveChoices, savePhoto, saveRunning } from "./store.js";
import { fileSize, paintingLabel } from "./template.js";
import { ClipStage } from "./video.js";
import { View } from "./view.js";

/** @typedef {import("./template.js").Style} Style */
/** @typedef {import("./store.js").Result} Result */
/** @typedef {import("./store.js").SavedPhoto} SavedPhoto */
/** @typedef {import("./store.js").SavedBatch} SavedBatch */
/** @typedef {import("./previews.js").Choice} Choice */
/** @typedef {import("./chosen.js").Chosen} Chosen */
/** @typedef {import("./look_fit.js").StyleLook} StyleLook */

const view = new View();
// What the critic sees (critic.js): its own controls after the result bar, fed a finished job's maps.
const critic = new CriticView(byId("compare"), byId("result-bar"));
const lookView = new LookView();
const clips = new ClipStage(view);
const previewsView = new PreviewsView();
const flow = new JobFlow(view);
const resultsView = new ResultsView();
const results = new Results(view, resultsView);
const keptPhotos = new KeptPhotos();
// A focused control in sight stays where it is in the window while the page's parts change size.
anchorFocus([...byId("workspace").children]);

// Said under the photo picker, where the person chose (a click, a file, a drop or a paste), until the restyle ends.
const WAIT_FOR_THE_RESTYLE = "Please wait until this photo is finished, then choose the next one.";
// Previews that depend on the server's strength wait this long after the last slider move.
const PREVIEW_DEBOUNCE_MS = 150;

const state = {
  /** @type {File | null} the photo as chosen; null after a reload (the gateway still has it by id) */ file: null,
  /** @type {File[]} */ batch: [],
  /** @type {string[]} an object URL of each photo of the batch (the first is photoUrl) */ batchUrls: [],
  /** @type {string | null} */ photoUrl: null,
  /** @type {SavedPhoto | null} the photo as uploaded once */ photo: null,
  /** @type {Promise<SavedPhoto | null> | null} the upload under way */ uploading: null,
  /** @type {BatchCopy | null} a batch's photo on the page by the gateway's copy, uploaded once restyled */
  copyOf: null,
  /** @type {object} the latest "Show": an earlier one still waiting on the gateway leaves the page alone */
  showAsk: {},
  /** @type {import("./api.js").Preview[]} the previews the gateway offers for the photo */ previews: [],
  /** @type {Style[]} */ styles: [],
  /** @type {string | null} */ style: null,
  strength: view.strengthValueNow(),
  scale: view.scaleValueNow(),
  busy: false,
  /** @type {string | null} the chosen file is a video clip of this kind (clip_sniff.js clipKind, video.js) */
  clip: null,
  /** @type {{url: string, meta: string, batch?: SavedBatch} | null} the zip of the chosen batch's results, once made */
  zip: null,
  /** whether a batch is being followed (leaving then asks first: a reload follows it again) */
  batchRunning: false,
  /** @type {string | null} the example photo chosen (its file name, view.markExample), null for the person's own */
  example: null,
  /** @type {Chosen | null} what the upload under way gives back if the gateway refuses its photo */
  fallback: null,
  /** @type {import("./api.js").Look & {paintingUrl: string | null}} */
  look: { preset: null, painting: null, paintingUrl: null, mixWith: "", mix: 0.3,
          keepColors: lookView.keepColorsNow() },
  /** @type {Map<string, StyleLook>} the look of each conditioned style the person left, for a return to it */
  looks: new Map(),
  /** @type {import("./checks.js").Limits | null} null until loaded: the gateway still checks every upload */
  limits: null,
  /** @type {Promise<void> | null} the check of the files chosen last (restyle waits for it) */
  checking: null,
  /** @type {ReturnType<typeof setTimeout> | undefined} */ previewTimer: undefined,
  /** @type {object} the latest ask for the previews' list: an older one's answer or retry is dropped */
  previewsAsk: {},
};

/** @param {string | null} url */
function forget(url) {
  if (url) URL.revokeObjectURL(url);
}

/**
 * Takes picked, dropped or pasted files: the page's checks sort them (photo_choice.js), the refused
 * ones are named with why, and the others are taken; when none is, the photo chosen before stays.
 * @param {File[]} files one photo, several for a batch, or one video clip
 */
function pickPhotos(files) {
  if (state.busy) return view.showFileError(WAIT_FOR_THE_RESTYLE);
  state.checking = takePhotos(files);
}

/** @param {File[]} files */
async function takePhotos(files) {
  view.clearError();
  view.clearFileError();
  const kept = Boolean(state.file || state.photo);
  const choice = await sortFiles(files, await uploadLimits(), (file, kind, url, limits) => clips.problem(file, kind, url, limits));
  if (choice.refused.length) view.showFileError(refusalLines(choice.refused, files.length > 1 || kept));
  if (choice.clip && choice.url) return showClip(choice.clip, choice.url);
  if (choice.url) showPhotos(choice.photos, choice.url);
}

/**
 * Puts checked photos on the page in place of what was there; one is uploaded at once. What was there
 * is kept until that upload answers: a photo the gateway refuses gives way to it again, as a file the
 * page's own checks refuse never replaces it.
 * @param {File[]} files
 * @param {string} url object URL of the first, the one shown
 */
function showPhotos(files, url) {
  const before = files.length === 1 ? setAside(state, results, clips) : null;
  letGo(state, before);
  if (state.clip) clips.clear();
  results.setPhoto(null);
  const [file] = files;
  const batch = files.length > 1 ? files : [];
  Object.assign(state, { file, batch, photoUrl: url, photo: null, previews: [], clip: null, zip: null, example: null,
                         copyOf: null, fallback: before, batchUrls: batch.map((f, i) => (i ? URL.createObjectURL(f) : url)) });
  critic.clear();
  showChosen();
  previewsView.hide();
  if (files.length > 1) savePhoto(null);
  saveBatch(null);  // the batch's zip, if one was on offer, is not the page's any more (putBack keeps it again)
  // One photo is uploaded once, now: the previews need it, and every restyle reuses its id.
  state.uploading = files.length > 1 ? null : upload(file, file.name || "Pasted image");
  releasePhotos();
}

/**
 * Shows the chosen photo (or the first of a batch, with their count) or clip as the page's photo.
 * @param {import("./video.js").ClipResult | null} [clipResult] the clip's result, when the clip comes back
 */
function showChosen(clipResult = null) {
  const url = /** @type {string} */ (state.photoUrl);
  const count = state.batch.length || 1;
  const name = state.photo?.name || state.file?.name || state.copyOf?.name || (state.clip ? "Clip" : "Pasted image");
  view.showPhoto(url, photosLine(name, count), count, Boolean(state.clip));
  view.markExample(state.example);  // an example photo given back is marked again
  showInset();
  if (state.clip) clips.show(url, state.clip, clipResult);
}

/**
 * @param {string} name the (first) photo's file name
 * @param {number} count how many photos
 * @returns {string} what the name line says: "astronaut.jpg", "6 photos: astronaut.jpg and 5 more"
 */
function photosLine(name, count) {
  return count > 1 ? `${count} photos: ${name} and ${count - 1} more` : name;
}

/**
 * Puts back what was chosen before a photo the gateway refused, as the person had it: its previews,
 * the result on the stage, a batch's zip, a clip's result.
 * @param {Chosen} before
 */
function putBack(before) {
  letGo(state, before);
  const { stage, ...chosen } = before;
  Object.assign(state, chosen, { uploading: null, fallback: null });
  showChosen(stage.clip);
  savePhoto(state.photo);
  if (state.previews.length) renderPreviews();
  else loadPreviews();
  const shown = results.putBack(stage.results);
  if (shown) showResult(shown, undefined, { reveal: false });
  if (state.zip) offerZip(state.zip);
}

/**
 * Uploads the chosen photo, keeps its id (and links, for a reload), and starts the previews. If the
 * gateway refuses the file, what was chosen before it comes back (state.fallback).
 * @param {File} file
 * @param {string} name
 * @returns {Promise<SavedPhoto | null>} null when the upload failed (the reason is shown)
 */
async function upload(file, name) {
  view.showProgress(0, 0, `Uploading ${fileSize(file.size)}…`);
  const key = await photoKey(file);
  let photo;
  try {
    photo = await keptPhotos.reuse(key) || await keptPhotos.upload(file, { name, key }, () => heldPhotos(false),
      (sent, total) => view.showProgress(sent, total, `Uploading ${fileSize(sent)} of ${fileSize(total)}…`));
  } catch (error) {
    // Another photo chosen meanwhile has its own progress, and took over what comes back.
    if (state.file !== file) return null;
    view.hideProgress();
    // A refusal of the file itself (damaged past its header, too large...) drops it, as the page's own
    // checks do, and puts back what was chosen before; a busy or unreachable gateway keeps it, so
    // Restyle can try again.
    const refused = error instanceof ApiError && refusesTheFile(error.status);
    const before = refused ? state.fallback : null;
    if (before) putBack(before);
    else if (refused) dropPhoto();
    else forgetFallback(state);
    const said = error instanceof ApiError ? error.message : "The upload failed.";
    const reason = isNoRoom(error) ? noRoomMessage(state.limits) : said;
    view.showFileError(before ? `${name}: ${reason}` : reason);  // named, as refusalLines does
    return null;
  } finally {
    if (state.file === file) state.uploading = null;
  }
  if (state.file !== file) {  // another photo was chosen meanwhile: this one is let go of
    releasePhotos();
    return null;
  }
  forgetFallback(state);
  view.hideProgress();
  state.photo = { ...photo, name, key };
  keptPhotos.add(state.photo);
  releasePhotos();
  if (state.copyOf) batchCopies.set(state.copyOf.photoId, photo.id);
  savePhoto(state.photo);
  results.setPhoto({ id: photo.id, url: /** @type {string} */ (state.photoUrl) });
  view.announce("Your photo is uploaded; its previews in every style follow.");
  loadPreviews();
  return state.photo;
}

/**
 * The photos of this visit the page still needs the gateway to keep: the page's photo, the one that
 * comes back if a new one is refused, and (with `forResults`) those its listed results are shown over.
 * @param {boolean} [forResults]
 * @returns {Set<string>} their ids
 */
function heldPhotos(forResults = true) {
  const ids = [state.photo?.id, state.fallback?.photo?.id];
  if (forResults) {
    for (const result of results.list) ids.push(result.photoId, batchCopies.get(result.photoId));
  }
  return new Set(/** @type {string[]} */ (ids.filter(Boolean)));
}

/** Deletes the visit's photos nothing on the page needs any more (kept_photos.js). */
function releasePhotos() {
  keptPhotos.release(heldPhotos());
}

/**
 * @param {number} status an HTTP status the gateway answered an upload with
 * @returns {boolean} whether it refuses the file itself: a 4xx other than 408 and 429
 */
function refusesTheFile(status) {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * Puts a checked video clip on the page in place of what was there. A clip is not kept by id: its job
 * uploads it (video.js).
 * @param {{file: File, kind: string}} clip
 * @param {string} url its object URL
 */
function showClip({ file, kind }, url) {
  letGo(state, null);
  results.setPhoto(null);
  previewsView.hide();
  savePhoto(null);
  saveBatch(null);
  Object.assign(state, { file, batch: [], batchUrls: [], photoUrl: url, photo: null, uploading: null, previews: [],
                         clip: kind, zip: null, example: null, copyOf: null });
  critic.clear();
  showChosen();
  releasePhotos();
}

/** Forgets the chosen photos and the result (after a refused file, so "Restyle" cannot send a stale one). */
function dropPhoto() {
  replaceChoice({});
  view.clearPhoto();
}

/**
 * Lets go of what was chosen (its object URLs, a clip's result, the previews) and holds `taken` instead:
 * nothing, a photo the gateway keeps, or a batch's copy; the stage is the caller's to show.
 * @param {{photoUrl?: string, photo?: SavedPhoto, copyOf?: BatchCopy}} taken
 */
function replaceChoice({ photoUrl = null, photo = null, copyOf = null }) {
  clips.clear();
  letGo(state, null);
  Object.assign(state, { file: null, batch: [], batchUrls: [], photoUrl, photo, uploading: null, previews: [],
                         clip: null, zip: null, example: null, copyOf });
  results.setPhoto(photo && { id: photo.id, url: photo.imageUrl });
  savePhoto(photo);
  saveBatch(null);
  critic.clear();
  previewsView.hide();
  releasePhotos();
}

/**
 * Makes a photo the gateway keeps the page's photo, in place of what was chosen: nothing is uploaded
 * again (after a reload, or an earlier photo of the visit brought back by showing its result).
 * @param {SavedPhoto} photo
 */
function takeKeptPhoto(photo) {
  replaceChoice({ photoUrl: photo.imageUrl, photo });
  showChosen();
  loadPreviews();
}

/**
 * @typedef {object} BatchCopy a batch's photo made the page's photo by showing its result
 * @property {string} url the gateway's copy (kept as long as the result)
 * @property {string} name its file name
 * @property {string} photoId its results' photoId
 */

/**
 * "Show" on a listed result. A result of another photo than the page's single photo makes that photo
 * the page's again, so that the name line, the previews and Restyle are about the photo on the stage:
 * by its id while the gateway keeps it (nothing uploaded), a batch's photo by the gateway's copy (sent as
 * a photo only when it is restyled, so showing results costs none of the person's photo allowance).
 * While a restyle runs, while the page holds a batch or a clip (their zip or restyled clip would be
 * lost), or once the photo is gone, the result is only shown, over its photo or itself; the name line
 * then still names what Restyle works on.
 * @param {string} id the result's id
 */
async function showListed(id) {
  const result = results.find(id);
  if (!result) return;
  const ask = {};
  state.showAsk = ask;
  const still = () => state.showAsk === ask && !state.busy;
  // A batch's zip on offer after a reload (its photos' files are gone: Show brings them back one by one,
  // by the gateway's copies) stays on offer, as it does before one.
  const zip = state.zip;
  if (still() && !state.batch.length && !state.clip && !results.onPage(result)) await bringBack(result, still);
  if (zip && !state.zip && state.showAsk === ask && !state.busy) offerZip(zip);
  if (state.showAsk === ask && results.find(id)) await showResult(result);
}

/**
 * Brings back the photo of a result not on the page; when it is gone, nothing changes.
 * @param {Result} result
 * @param {() => boolean} still whether this Show is still the person's latest, with no restyle started
 */
async function bringBack(result, still) {
  const name = result.photoName || "Earlier photo";
  const ofBatch = isBatchPhoto(result.photoId);
  const id = ofBatch ? batchCopies.get(result.photoId) : result.photoId;
  if (id) {
    try {
      const photo = await fetchPhoto(id);
      if (!still()) return;
      takeKeptPhoto({ ...photo, name, key: result.photoKey });
      // A batch's result is shown over the page's photo (its copy, kept by id), as the line describes.
      if (ofBatch) results.addPhoto(result.photoId, photo.imageUrl);
      return;
    } catch {
      // Gone from the gateway: a batch's photo comes back by its copy, another is shown over itself.
    }
  }
  if (ofBatch && result.photoUrl && still()) {
    takeBatchCopy({ url: result.photoUrl, name, photoId: result.photoId });
    results.addPhoto(result.photoId, result.photoUrl);  // shown over the page's photo, as the line describes
  }
}

// A batch's photo restyled from its copy is kept by the gateway as a photo: its results' photoId -> that id.
const batchCopies = new Map();

/**
 * Makes a batch's photo the page's photo by the gateway's copy of it, without sending anything: no
 * previews (they need a photo id) until Restyle uploads it (fileOfCopy).
 * @param {BatchCopy} copy
 */
function takeBatchCopy(copy) {
  replaceChoice({ photoUrl: copy.url, copyOf: copy });
  showChosen();
}

/**
 * The page's batch copy as a file to upload, fetched from the gateway.
 * @param {BatchCopy} copy
 * @returns {Promise<File | null>} null when the gateway no longer keeps it
 */
async function fileOfCopy(copy) {
  try {
    const response = await fetch(copy.url);
    if (!response.ok) return null;
    const blob = await response.blob();
    return new File([blob], copy.name, { type: blob.type });
  } catch {
    return null;
  }
}

/** Asks the gateway which previews the uploaded photo has, then shows them. */
async function loadPreviews() {
  const photo = state.photo;
  if (!photo) return;
  // One ask at a time (a photo put back asks again): only the latest's answer is shown or retried.
  const ask = {};
  state.previewsAsk = ask;
  const current = () => state.photo === photo && state.previewsAsk === ask;
  try {
    const previews = await fetchPreviews(photo.previewsUrl);
    if (!current()) return;
    state.previews = previews;
  } catch (error) {
    if (!current()) return;
    // Only the grid is missing (the servers may be starting): say so there, not as the page's error,
    // and ask again while the same photo is shown.
    if (error instanceof ApiError && error.transient) {
      previewsView.showProblem(`${error.message} Trying again…`);
      setTimeout(() => { if (current()) loadPreviews(); }, SERVER_RETRY_MS);
    } else {
      previewsView.showProblem(error instanceof ApiError ? error.message : "The previews could not be loaded.");
    }
    return;
  }
  renderPreviews();
}

/** The previews of the uploaded photo in every style (once both the previews and the styles are there). */
function renderPreviews() {
  if (!state.photo || !state.styles.length || !state.previews.length) return;
  previewsView.render(choicesOf(state.previews, state.styles, strengthMixesPixels), previewOf, state.photo.thumbnailUrl);
  previewsView.setMix(state.strength);
}

/**
 * A pixel-mix preview is made at strength 1 and mixed in the page; the others at the slider's.
 * @param {Choice} choice
 * @returns {string}
 */
function previewOf(choice) {
  return previewUrl(choice.url, { strength: choice.pixelMix ? 1 : state.strength, scale: state.scale,
                                  keepColors: state.look.keepColors });
}

/**
 * @param {Choice} choice
 * @returns {boolean} whether it is the style (and preset) chosen in the controls
 */
function chosen(choice) {
  return choice.style.id === state.style && (!choice.presetId || choice.presetId === state.look.preset);
}

/**
 * A click on a preview: choose its style (and preset), then make the full-size result of what the card
 * shows: the preset alone, without a mix the style kept (a painting is let go by pickPreset).
 * @param {Choice} choice
 */
function pickPreview(choice) {
  pickStyle(choice.style.id);
  if (choice.presetId) {
    pickPreset(choice.presetId);
    state.look.mixWith = "";
    lookView.showMix("", state.look.mix);
    keepChoices();
  }
  restyle();
}

/**
 * Chooses a style. A conditioned style gets back the look it had when the person left it, or else the
 * look carried from the style before, made to fit it (look_fit.js): what it cannot take is set aside
 * with the style that had it, not sent.
 * @param {string} styleId
 */
function pickStyle(styleId) {
  const style = state.styles.find((s) => s.id === styleId);
  if (!style) return;
  const before = currentStyle();
  if (before?.kind === "conditioned" && before.id !== style.id) state.looks.set(before.id, styleLook(state.look));
  state.style = style.id;
  view.selectStyle(style);
  lookView.renderFor(style);
  if (style.kind === "conditioned") {
    Object.assign(state.look, fitLook(style, state.looks.get(style.id) || state.look));
    state.looks.delete(style.id);  // the controls hold it now
    lookView.showMix(state.look.mixWith, state.look.mix);
    showLook();
  } else {
    showInset();
    followControls();
  }
  keepChoices();
}

/** @returns {Style | undefined} */
function currentStyle() {
  return state.styles.find((s) => s.id === state.style);
}

/** @param {string} presetId */
function pickPreset(presetId) {
  state.look.preset = presetId;
  lookView.selectPreset(presetId);
  lookView.clearError();  // a preset answers the painting zone's note or refusal
  keepChoices();
  if (state.look.painting) pickPainting(null);
  else showLook();
}

/**
 * Uses the person's painting as the style, after the same checks a photo gets (format, bytes, and
 * whether the browser can decode it), so a painting the gateway would refuse is never sent.
 * @param {File | null} file the person's painting, or null to go back to the presets
 */
async function pickPainting(file) {
  // Chosen before the styles arrived, it is for the style chosen then: counted as chosen for "another
  // style" (none yet) once one was, it was dropped without a word.
  if (file && !stylesKnown) await stylesLoaded;
  const pickedFor = state.style;
  const url = file ? URL.createObjectURL(file) : null;
  const problem = file ? await paintingProblem(file, url, await uploadLimits()) : null;
  const moved = state.style !== pickedFor;
  if (problem) {
    forget(url);
    // Said under the painting's zone; to a person who went on to another style, only announced.
    if (!moved) lookView.showError(`Your painting: ${problem} ${stillTheStyle()}`);
    else view.announce(`Your painting ${file.name || ""} was not taken: ${problem}`);
    return;
  }
  // Checked while the person went on to another style: it is kept with the style it was chosen for.
  if (moved) {
    const kept = state.looks.get(pickedFor || "");
    if (!kept) return forget(url);  // its style is gone
    const old = kept.paintingUrl;
    Object.assign(kept, { painting: file, paintingUrl: url });
    return forgetPainting(old);
  }
  lookView.clearError();
  const old = state.look.paintingUrl;
  state.look.painting = file;
  state.look.paintingUrl = url;
  forgetPainting(old);
  showLook();
  if (file) view.announce(`Your painting ${file.name || ""} is the style now.`);
}

/**
 * Lets go of a painting's object URL, unless a look still holds it: the controls' own, or the one kept
 * for another style.
 * @param {string | null} url
 */
function forgetPainting(url) {
  if (![state.look, ...state.looks.values()].some((look) => look.paintingUrl === url)) forget(url);
}

/**
 * What paints after a painting was refused, said with the refusal so that no restyle uses it unseen.
 * @returns {string} e.g. "The style is still Ribbons."
 */
function stillTheStyle() {
  const { painting, preset } = state.look;
  const name = painting ? paintingLabel(painting.name) : currentStyle()?.presets?.find((p) => p.id === preset)?.name;
  return name ? `The style is still ${name}.` : "";
}

/**
 * A restyle the gateway refused because of the person's painting (its error's field is "style_image",
 * bff/look_form.py): the reason is said under the painting too, where it was chosen. The painting stays
 * chosen, so the next Restyle is refused again rather than quietly painted with a preset.
 * @param {unknown} error
 * @param {import("./api.js").Look} look as sent
 */
function paintingRefused(error, look) {
  if (!(error instanceof ApiError && look.painting && error.field === "style_image")) return;
  lookView.showError(`Your painting: ${error.message} Choose another painting, or use the preset instead.`);
}

/** Shows the look the controls hold: in the controls, and beside the photo unless a result is there. */
function showLook() {
  if (!state.look.painting && state.look.preset) lookView.selectPreset(state.look.preset);
  lookView.showPainting(state.look.painting ? chosenLook().caption : null);
  showInset();
  followControls();
}

/** @returns {{url: string | null, caption: string}} the painting or preset the controls will use */
function chosenLook() {
  const { painting, paintingUrl, preset } = state.look;
  if (painting) return { url: paintingUrl, caption: `Style: ${paintingLabel(painting.name)}` };
  const chosen = currentStyle()?.presets?.find((p) => p.id === preset);
  return { url: chosen ? chosen.preview_url : null, caption: chosen ? `Style: ${chosen.name}` : "" };
}

/**
 * The look beside the stage: the shown result's own (none for a fixed style's), else the one the
 * controls will use for a conditioned style, once there is a photo to show it with.
 */
function showInset() {
  const shown = results.shown;
  if (shown) return lookView.showInset(shown.look?.image ?? null, shown.look ? `Style: ${shown.look.name}` : "");
  if (!state.photoUrl || currentStyle()?.kind !== "conditioned") return lookView.showInset(null, "");
  const { url, caption } = chosenLook();
  lookView.showInset(url, caption);
}

/**
 * A restyle of the person's starts or ends: the button says so, and previews not yet asked for wait.
 * @param {boolean} busy
 */
function setBusy(busy) {
  state.busy = busy;
  view.setBusy(busy);
  previewsView.setPaused(busy);
  if (busy) return;
  // What was said of the restyle while it ran has had its day: a photo may be chosen now, Cancel is gone.
  view.clearFileError(WAIT_FOR_THE_RESTYLE);
  view.clearStageError();
}

async function restyle() {
  if (state.busy) return;
  // A large photo chosen a moment ago may still be decoding, and the styles may still be on the way.
  await Promise.all([state.checking, stylesShown()]);
  if (state.busy) return;
  view.clearError();
  if (!state.file && !state.photo && state.copyOf) {
    const copy = state.copyOf;
    const file = await fileOfCopy(copy);
    if (state.copyOf !== copy || state.busy) return;  // another photo was chosen meanwhile
    if (!file) return view.showError(`The server no longer keeps ${copy.name}: choose it again.`);
    state.file = file;
  }
  if (!state.file && !state.photo) return view.showError(noPhotoMessage(view.takeFileError()));
  if (!state.style) {
    const none = !state.styles.some((s) => s.status === "SERVING");
    return view.showError(none ? "No style is ready on the server yet. Try again in a moment." : "Choose a style for your photo.");
  }
  const style = /** @type {Style} */ (currentStyle());
  setBusy(true);
  results.clear();
  state.zip = null;
  saveBatch(null);
  saveRunning(null);  // a job kept after lost contact is replaced by this restyle, not resumed behind a batch
  view.showStale(null);
  critic.clear();
  view.revealStage();
  view.announce("Restyling started.");
  const since = watchMovedOn();
  // A copy of what was chosen when Restyle was pressed: the controls stay usable while it is made, and a
  // style chosen meanwhile brings its own look (look_fit.js), which must not reach this style's order.
  const look = style.kind === "conditioned" ? { ...state.look } : { keepColors: state.look.keepColors };
  try {
    if (state.batch.length > 1) return await restyleBatch(state.batch, style, look);
    if (state.clip && state.file) {
      return await clips.restyle(state.file, style.id, state.strength, look, style.name || style.id,
                                 () => stayPut(since));
    }
    await restylePhoto(style, look, since);
  } catch (error) {
    view.hideProgress();
    view.showError(error instanceof ApiError ? error.message : "Something went wrong in this page. Please reload it.");
    paintingRefused(error, look);
    if (!(error instanceof ApiError)) console.error(error);
  } finally {
    setBusy(false);
    since.stop();
  }
}

/**
 * Whether a result that comes now leaves the page where it is: the person went on elsewhere since
 * Restyle (moved_on.js), or works in "Your results".
 * @param {{ moved: () => boolean }} since
 * @returns {boolean}
 */
function stayPut(since) {
  return since.moved() || results.holdsFocus();
}

/**
 * What Restyle says without a photo. The reason a chosen file was refused (a cut-short JPEG, say) moves
 * here from under the drop zone, first, so the person still reads why, also by the button.
 * @param {string[]} refused the refusal's lines, if a file was refused
 * @returns {string}
 */
function noPhotoMessage(refused) {
  return [...refused, "Choose a photo first: drop it on the page, paste it or pick a file."].join(" ");
}

/**
 * Makes the uploaded photo's full-size result. A photo the gateway has forgotten (it expires) is
 * uploaded again once, if the page still has the file.
 * @param {Style} style
 * @param {import("./api.js").Look} look
 * @param {{ moved: () => boolean }} since whether the person went on elsewhere since Restyle (moved_on.js)
 */
async function restylePhoto(style, look, since) {
  const { strength, scale } = state;  // as chosen when Restyle was pressed, like `look`
  let photo = state.uploading ? await state.uploading : state.photo;
  // A photo whose upload failed for a passing reason (the gateway busy or out of reach) is kept for this:
  // Restyle uploads it again. A refused one was dropped, or the one before it put back (not restyled
  // unasked: the person pressed Restyle for the refused one).
  if (!photo && !state.photo && state.file && !state.clip && !state.batch.length) {
    photo = await (state.uploading = upload(state.file, state.file.name || "Pasted image"));
  }
  if (!photo) return view.hideProgress();  // the upload failed and said why
  // The strength of a pixel mix is applied in the page (see live_mix.js).
  const mixInPage = strengthMixesPixels(style);
  const made = { style: style.id, styleName: style.name || style.id, preset: look.preset ?? null,
                 strength, madeAt: mixInPage ? 1 : strength, pixelMix: mixInPage,
                 scale, keepColors: Boolean(look.keepColors), look: await resultLook(style, look), photoId: photo.id,
                 photoKey: photo.key, photoName: photo.name,
                 photoUrl: photo.imageUrl || null };  // after a reload the page shows it over the gateway's copy
  const order = { style: style.id, strength: made.madeAt, scale,
                  look: { ...look, explain: Boolean(style.has_critic) } };
  view.showProgress(0, 0, "Starting…");
  let job;
  try {  // a busy gateway is asked again (flow.create), with Cancel
    job = await flow.create(() => createPhotoJob(photo.id, order));
  } catch (error) {
    if (!(error instanceof ApiError && error.code === "unknown_photo" && state.file)) throw error;
    photo = await (state.uploading = upload(state.file, photo.name));
    if (!photo) return view.hideProgress();
    const id = photo.id;
    Object.assign(made, { photoId: id, photoName: photo.name, photoUrl: photo.imageUrl || null });
    job = await flow.create(() => createPhotoJob(id, order));
  }
  await finish(job && await flow.follow(job, made), since);
}

/**
 * Lists a finished job's result and shows it; says so when the job was cancelled instead.
 * @param {import("./job_flow.js").Finished | null} finished
 * @param {{ moved: () => boolean }} since whether the person went on elsewhere since it started
 */
async function finish(finished, since) {
  if (!finished) {
    view.showProgress(0, 0, "Cancelled. Nothing more is being made.");
    view.announce("The restyle was cancelled.");
    return;
  }
  // A person who went on elsewhere while it was made (to "Your results", the previews...) stays where
  // they are (on a phone the stage is a screen or more above): the announcement says it is ready, as for
  // a batch's photos.
  // The controls stay as the person left them: a strength moved while it was made is mixed in live, or
  // the result is marked out of date (followControls), not moved back to the one it was made with.
  await showResult(finished.result, finished.objectUrl, { reveal: !stayPut(since), keepControls: true });
  if (finished.late) {  // Cancel came too late: said plainly, not passed off as a result asked for
    view.relabelProgress("Not cancelled: it was finished before the server heard. Here is its result.");
    return view.announce("The restyle was finished before it could be cancelled; its result is shown.");
  }
  view.relabelProgress("Restyled");  // only now: "Finishing…" held the line while the result was made
  view.announce("Your photo is restyled. Compare it with the slider, or download it.");
}

/**
 * Puts a result on the stage (a new one also into the list), with the slider at its strength.
 * @param {Result} result
 * @param {string} [objectUrl] the image of a new result
 * @param {{reveal?: boolean, keepControls?: boolean}} [options] reveal: false leaves the page where it is
 *   scrolled; keepControls: the slider keeps the strength the person has now (a result just made)
 */
async function showResult(result, objectUrl, options) {
  critic.show(result.maps);
  if (!options?.keepControls) {
    view.setStrength(result.strength);
    state.strength = result.strength;
  }
  if (objectUrl) {
    const added = results.add(result, objectUrl, options);
    applyStrength();
    await added;
  } else {
    results.show(result, options);
    applyStrength();
  }
}

/** The slider moved (or a result was shown): previews and the shown result follow. */
function applyStrength() {
  previewsView.setMix(state.strength);
  clearTimeout(state.previewTimer);
  state.previewTimer = setTimeout(() => previewsView.refresh((c) => !c.pixelMix, previewOf, chosen), PREVIEW_DEBOUNCE_MS);
  followControls();
}

/** @param {string} scale the brush scale chosen: "auto" or a working scale */
function pickScale(scale) {
  state.scale = scale;
  keepChoices();
  previewsView.refresh(() => true, previewOf, chosen);
  followControls();
}

/** The shown result follows the controls: strength live where it can, else marked out of date. */
function followControls() {
  const style = currentStyle();
  const look = style ? { style: style.id, styleName: style.name || style.id, name: lookName(style, state.look) } : null;
  results.follow(state.strength, state.scale, look, state.look.keepColors);
}

async function cancel() {
  try {
    await flow.cancel();
  } catch (error) {
    // Said by the Cancel button; it has had its day once the restyle ends (setBusy).
    view.showStageError(error instanceof ApiError ? error.message : "The job could not be cancelled.");
  }
}

/** After a reload: the visit's photo (by id), its results, and the job that was running. */
async function resumeVisit() {
  const visit = loadVisit();
  if (visit.choices?.scale) state.scale = view.setScale(visit.choices.scale);
  results.load(visit.results);
  if (visit.photo) takeKeptPhoto(visit.photo);
  if (visit.batch) return resumeBatch(visit.batch);
  if (!visit.running) return;
  setBusy(true);
  view.revealStage();
  const since = watchMovedOn();
  try {
    await finish(await flow.resume(visit.running), since);
  } catch (error) {
    view.hideProgress();
    if (!(error instanceof ApiError)) console.error(error);
    view.showError(error instanceof ApiError ? error.message : "Something went wrong in this page. Please reload it.");
  } finally {
    setBusy(false);
    since.stop();
  }
}

/**
 * Loads an example photo next to the page and takes it as the photo; its button shows at once that it
 * is loading, then that it is the photo.
 * @param {string} name file name of an example photo next to the page
 * @param {string} label what its button says, e.g. "Coffee"
 */
async function tryExample(name, label) {
  if (state.busy) return view.showFileError(WAIT_FOR_THE_RESTYLE);
  view.markExample(name, true);
  view.announce(`Loading the example photo ${label}…`);
  try {
    const response = await fetch(`./${name}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const blob = await response.blob();
    const file = new File([blob], name.replace(/^example-/, ""), { type: blob.type || "image/jpeg" });
    pickPhotos([file]);
    await state.checking;
    if (state.file === file) state.example = name;
    view.markExample(state.file === file ? name : null);
  } catch {
    view.markExample(null);
    view.showFileError("The example photo could not be loaded.");
  }
}

/**
 * Restyles several photos as one batch: each result is listed and shown as it comes, the zip offered at the end.
 * @param {File[]} files
 * @param {Style} style
 * @param {import("./api.js").Look} look
 */
async function restyleBatch(files, style, look) {
  const { strength, scale } = state;  // as chosen when Restyle was pressed, like `look`
  const made = { style: style.id, styleName: style.name || style.id, preset: look.preset ?? null,
                 strength, madeAt: strength, pixelMix: false, scale, keepColors: Boolean(look.keepColors),
                 look: await resultLook(style, look), photoId: "" };
  const keys = Promise.all(files.map(photoKey));  // read while the photos go up
  state.batchRunning = true;  // a reload now would lose the upload: the browser asks first
  try {
    const batch = await createBatch(files, { style: style.id, strength, scale, look },
                                    (sent, total) => view.showProgress(sent, total, `Uploading ${fileSize(sent)} of ${fileSize(total)}…`));
    /** @type {SavedBatch} */
    const saved = { statusUrl: batch.status_url, made, keys: await keys, sent: Date.now(), listed: [],
                    names: files.map((file) => file.name) };
    saveBatch(saved);
    await followListedBatch(saved, state.batchUrls);
  } finally {
    state.batchRunning = false;
  }
}

/**
 * Follows a batch to its end, listing each photo as it is restyled, then offers the zip while the gateway
 * keeps any of its results.
 * @param {SavedBatch} saved
 * @param {string[]} photoUrls an object URL of each photo (none after a reload: the gateway's copies serve)
 */
async function followListedBatch(saved, photoUrls) {
  const listed = new BatchResults(results, photoUrls, saved);
  const label = (/** @type {number} */ done, /** @type {number} */ total) => `${done} of ${total} photos restyled…`;
  state.batchRunning = true;
  let finished;
  try {
    finished = await followBatch(saved.statusUrl, (done, total, current) => {
      view.showProgress(done, total, label(done, total));
      listed.follow(current);
    }, (lost) => view.showContact(lost));
  } finally {
    state.batchRunning = false;
  }
  await listed.follow(finished);
  view.hideProgress();
  const photos = finished.photos || [];
  if (photos.length && photos.every((photo) => photo.error === "expired")) return forgetBatch();  // nothing left to zip
  const failed = finished.failed_photos ? `, ${finished.failed_photos} failed (see errors.txt)` : "";
  offerZip({ url: finished.result_url, meta: `${finished.done_photos} of ${finished.total_photos} photos restyled${failed}`,
             batch: saved });
  if (listed.added || listed.skipped) view.announce(listed.summary());  // not again on every reload
}

/** The batch followed after a reload is one the gateway no longer keeps: said, and dropped from the visit. */
function forgetBatch() {
  saveBatch(null);
  view.announce("The server no longer keeps that batch's results.");
}

/**
 * Offers a batch's zip beside the stage, and keeps it for a reload.
 * @param {{url: string, meta: string, batch?: SavedBatch}} zip
 */
function offerZip(zip) {
  state.zip = zip;
  if (zip.batch) saveBatch(zip.batch);
  view.showBatchResult(zip.url, zip.meta);
}

/**
 * After a reload: the batch that was running, or whose zip was on offer, followed again. Its photos
 * listed before are shown again, the ones finished meanwhile listed, and its zip offered while the
 * gateway keeps it. While it runs the name line names the batch, as before the reload; once it has
 * ended the photo on the stage is the page's photo (by the gateway's copy, as "Show" makes it): the
 * batch's own files are gone, so Restyle works on the photo shown and the name line names it.
 * @param {SavedBatch} saved
 */
async function resumeBatch(saved) {
  saveBatch(saved);  // the page's own choice now, as before the reload
  setBusy(true);
  try {
    await stylesLoaded;  // the controls are as before the reload: the shown result is judged against them
    const count = saved.names?.length ?? 0;
    if (count) view.showPhoto(`${saved.statusUrl}/photos/0/image`, photosLine(saved.names[0], count), count);
    const first = results.find(saved.listed[0] || "");
    if (first && !results.shown) await showResult(first, undefined, { reveal: false });
    await followListedBatch(saved, []);
  } catch (error) {
    view.hideProgress();
    if (error instanceof ApiError && error.status === 404) return forgetBatch();
    if (!(error instanceof ApiError)) console.error(error);
    view.showError(error instanceof ApiError ? error.message : "Something went wrong in this page. Please reload it.");
    return;
  } finally {
    setBusy(false);
  }
  if (results.shown && !state.batch.length && !state.file && !state.photo) await showListed(results.shown.id);
}

// While the inference server starts (make run starts both at once), keep asking instead of giving up.
const SERVER_RETRY_MS = 3000;

/** @type {(value?: void) => void} */
let stylesSettled = () => {};
let stylesKnown = false;
// Settles once the first answer about the styles is in: they are shown and one is chosen, or they
// cannot come now (the servers are starting or down: the page keeps asking, a restyle is told so).
const stylesLoaded = new Promise((resolve) => { stylesSettled = resolve; }).then(() => { stylesKnown = true; });

/**
 * What a restyle asked for before the styles arrived waits for: the click is kept, not refused with
 * "Choose a style" while the default style is still on the way.
 * @returns {Promise<void>}
 */
function stylesShown() {
  if (stylesKnown) return Promise.resolve();
  view.announce("Waiting for the styles to load…");
  view.setBusy(true);  // seen on the button too; restyle() sets it again for its own work
  return stylesLoaded.then(() => view.setBusy(state.busy));
}

async function loadStyles() {
  try {
    state.styles = await fetchStyles();
  } catch (error) {
    if (error instanceof ApiError && error.transient) {
      view.renderStylesWaiting(`${error.message} Trying again…`);
      setTimeout(loadStyles, SERVER_RETRY_MS);
    } else {
      view.renderStylesError(error instanceof ApiError ? error.message : "The styles could not be loaded.");
    }
    stylesSettled();
    return;
  }
  view.renderStyles(state.styles);
  const serving = state.styles.filter((s) => s.status === "SERVING");
  const kept = loadVisit().choices;  // the choice before a reload, if its style still serves
  const style = serving.find((s) => s.id === kept?.style) || serving[0];
  if (style) pickStyle(style.id);
  if (style && kept?.preset && style.presets?.some((p) => p.id === kept.preset)) pickPreset(kept.preset);
  if (style && kept) {
    restoreLookControls(style, kept);
    keepChoices();  // choosing the style above kept the controls' defaults: the next reload needs these again
  }
  stylesSettled();
  renderPreviews();
}

/**
 * Gives the controls back the strength, the mix and the keep-colours switch a reload interrupted: the mix
 * only to the style it was chosen for, where that style still offers its second preset. A painting of
 * the person's own cannot come back (the page held the file only while open): its zone says so.
 * @param {Style} style the style chosen again (another one when the kept style no longer serves)
 * @param {import("./store.js").Choices} kept the choices before the reload
 */
function restoreLookControls(style, kept) {
  if (typeof kept.strength === "number" && kept.strength >= 0 && kept.strength <= 1 && !results.shown) {
    view.setStrength(kept.strength);
    state.strength = kept.strength;
    applyStrength();
  }
  // The page holds a person's painting only while it is open: say so rather than paint with a preset unasked.
  if (kept.painting && style.id === kept.style && style.accepts_style_images) {
    lookView.showError(`Your painting (${kept.painting}) is not kept across a reload: choose it again, or ` +
                       "use a preset.");
  }
  if (typeof kept.keepColors === "boolean") {
    state.look.keepColors = kept.keepColors;
    lookView.setKeepColors(kept.keepColors);
  }
  const offered = style.id === kept.style && style.kind === "conditioned" &&
    style.presets?.some((p) => p.id === kept.mixWith);
  if (!offered || typeof kept.mix !== "number" || !(kept.mix >= 0 && kept.mix <= 1)) return;
  state.look.mixWith = kept.mixWith || "";
  state.look.mix = kept.mix;
  lookView.showMix(state.look.mixWith, state.look.mix);
  followControls();
}

/** Keeps the controls' choices for a reload. */
function keepChoices() {
  const { preset, mixWith, mix, keepColors, painting } = state.look;
  saveChoices({ style: state.style, preset, scale: state.scale, mixWith, mix, keepColors, strength: state.strength,
                painting: painting ? painting.name || "your painting" : null });
}

/**
 * The upload limits, once the page has them or knows it cannot have them (null: every check is left
 * to the gateway). A file chosen while they are still on the way waits for them, so it is checked
 * before anything is sent.
 * @returns {Promise<import("./checks.js").Limits | null>}
 */
async function uploadLimits() {
  await limitsLoaded;
  return state.limits;
}

/** Loads the upload limits once; without them the page leaves every check to the gateway. */
async function loadLimits() {
  try {
    state.limits = await fetchLimits();
  } catch {
    state.limits = null;
    return;
  }
  view.showHint(limitsHint(state.limits));
  view.showWhereKept(state.limits.photos?.store);
}

view.bindFile(pickPhotos);
view.bindStyle(pickStyle);
view.bindStrength((strength) => {
  state.strength = strength;
  applyStrength();
  keepChoices();
});
view.bindScale(pickScale);
view.bindCancel(cancel);
view.bindDownload((event) => results.download(event));
view.bindExamples(tryExample);
view.bindLeave(() => flow.running || state.batchRunning);
previewsView.bindPick(pickPreview);
results.bindShown(showInset);
resultsView.bindShow(showListed);
view.bindSubmit(restyle);
lookView.bindPreset(pickPreset);
lookView.bindPainting(pickPainting);
lookView.bindMix((presetId, share) => {
  state.look.mixWith = presetId;
  state.look.mix = share;
  keepChoices();
  followControls();
});
lookView.bindKeepColors((keep) => {
  state.look.keepColors = keep;
  keepChoices();
  previewsView.refresh(() => true, previewOf, chosen);
  followControls();
});
const limitsLoaded = loadLimits();
loadStyles();
resumeVisit();
