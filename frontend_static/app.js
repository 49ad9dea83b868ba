/**
 * Wires the page: state lives here, the view reports what the person does, the API does the work.
 */

import { ApiError, createBatch, createJob, fetchLimits, fetchResult, fetchStyles, followBatch, followJob } from "./api.js";
import { SNIFF_BYTES, fileProblem, limitsHint, pixelProblem } from "./checks.js";
import { LookView } from "./painting.js";
import { fileSize } from "./template.js";
import { ClipStage, CLIP_SNIFF_BYTES, clipKind } from "./video.js";
import { View } from "./view.js";

/** @typedef {import("./template.js").Style} Style */

const view = new View();
const lookView = new LookView();
const clips = new ClipStage(view);

const state = {
  /** @type {File | null} */ file: null,
  /** @type {File[]} */ batch: [],
  /** @type {string | null} */ photoUrl: null,
  /** @type {string | null} */ resultUrl: null,
  /** @type {Style[]} */ styles: [],
  /** @type {string | null} */ style: null,
  strength: view.strengthValueNow(),
  busy: false,
  clip: false,  // the chosen file is a video clip (video.js)
  /** @type {import("./api.js").Look & {paintingUrl: string | null}} */
  look: { preset: null, painting: null, paintingUrl: null, mixWith: "", mix: 0.3,
          keepColors: lookView.keepColorsNow() },
  /** @type {import("./checks.js").Limits | null} null until loaded: the gateway still checks every upload */
  limits: null,
  /** @type {Promise<void> | null} the check of the files chosen last (restyle waits for it) */
  checking: null,
};

/** @param {string | null} url */
function forget(url) {
  if (url) URL.revokeObjectURL(url);
}

/**
 * Takes picked, dropped or pasted files: refuses them at once if one is not an image the gateway
 * accepts (content, bytes; for the first, shown one also pixels and whether the browser can decode
 * it), else shows the first.
 * @param {File[]} files one photo, or several for a batch
 */
function pickPhotos(files) {
  if (state.busy) return view.showError("Please wait until this photo is finished, then choose the next one.");
  state.checking = takePhotos(files);
}

/** @param {File[]} files */
async function takePhotos(files) {
  view.clearError();
  if (await takeClip(files)) return;
  const [file] = files;
  const url = URL.createObjectURL(file);
  const problem = await photosProblem(files, url);
  if (problem) {
    URL.revokeObjectURL(url);
    dropPhoto();
    return view.showFileError(problem);
  }
  forget(state.photoUrl);
  forget(state.resultUrl);
  state.file = file;
  state.batch = files.length > 1 ? files : [];
  state.resultUrl = null;
  state.photoUrl = url;
  const name = file.name || "Pasted image";
  view.showPhoto(state.photoUrl, files.length > 1 ? `${files.length} photos: ${name} and ${files.length - 1} more` : name);
}

/**
 * Why these files cannot be restyled, or null. The first is decoded off-screen (it is the one
 * shown), so a broken file never shows; the gateway checks the others' pixels and names them.
 * @param {File[]} files
 * @param {string} url the first file's object URL
 * @returns {Promise<string | null>}
 */
async function photosProblem(files, url) {
  if (state.limits) {
    for (const file of files) {
      const head = new Uint8Array(await file.slice(0, SNIFF_BYTES).arrayBuffer());
      const problem = fileProblem(file.size, head, state.limits);
      if (problem) return files.length > 1 ? `${file.name}: ${problem}` : problem;
    }
  }
  const probe = new Image();
  const problem = await decodeProblem(probe, url);
  if (problem) return problem;
  return state.limits ? pixelProblem(probe.naturalWidth, probe.naturalHeight, state.limits) : null;
}

/**
 * Why the browser cannot decode the image at `url` into `probe`, or null once it has.
 * @param {HTMLImageElement} probe
 * @param {string} url
 * @returns {Promise<string | null>}
 */
async function decodeProblem(probe, url) {
  probe.src = url;
  try {
    await probe.decode();
  } catch {
    return "That file cannot be read as an image: it may be damaged or cut short.";
  }
  return null;
}

/**
 * Takes a video clip (one at a time) the way takePhotos takes a photo; false when the files are no clip.
 * @param {File[]} files
 * @returns {Promise<boolean>}
 */
async function takeClip(files) {
  const head = new Uint8Array(await files[0].slice(0, CLIP_SNIFF_BYTES).arrayBuffer());
  if (!clipKind(head)) {
    if (state.clip) clips.clear();
    state.clip = false;
    return false;
  }
  if (files.length > 1) {
    view.showFileError("Choose one video clip at a time; several photos can go together, clips cannot.");
    return true;
  }
  const url = URL.createObjectURL(files[0]);
  const problem = await clips.problem(files[0], url, state.limits);
  if (problem) {
    URL.revokeObjectURL(url);
    dropPhoto();
    view.showFileError(problem);
    return true;
  }
  forget(state.photoUrl);
  forget(state.resultUrl);
  Object.assign(state, { file: files[0], batch: [], resultUrl: null, photoUrl: url, clip: true });
  view.showPhoto(url, files[0].name || "Clip");
  clips.show(url, head);
  return true;
}

/** Forgets the chosen photos and the result (after a refused file, so "Restyle" cannot send a stale one). */
function dropPhoto() {
  clips.clear();
  state.clip = false;
  forget(state.photoUrl);
  forget(state.resultUrl);
  state.file = state.photoUrl = state.resultUrl = null;
  state.batch = [];
  view.clearPhoto();
}

/** @param {string} styleId */
function pickStyle(styleId) {
  const style = state.styles.find((s) => s.id === styleId);
  if (!style) return;
  state.style = style.id;
  view.selectStyle(style);
  lookView.renderFor(style);
  state.look.mixWith = "";
  const first = style.presets && style.presets[0];
  if (style.kind === "conditioned" && first && !state.look.painting) pickPreset(first.id);
  else if (style.kind === "conditioned") showLook();
}

/** @returns {Style | undefined} */
function currentStyle() {
  return state.styles.find((s) => s.id === state.style);
}

/** @param {string} presetId */
function pickPreset(presetId) {
  state.look.preset = presetId;
  lookView.selectPreset(presetId);
  if (state.look.painting) pickPainting(null);
  else showLook();
}

/**
 * Uses the person's painting as the style, after the same checks a photo gets (format, bytes, and
 * whether the browser can decode it), so a painting the gateway would refuse is never sent.
 * @param {File | null} file the person's painting, or null to go back to the presets
 */
async function pickPainting(file) {
  const url = file ? URL.createObjectURL(file) : null;
  const problem = file ? await paintingProblem(file, url) : null;
  if (problem) {
    forget(url);
    view.showFileError(`Your painting: ${problem}`);
    return;
  }
  view.clearError();
  forget(state.look.paintingUrl);
  state.look.painting = file;
  state.look.paintingUrl = url;
  showLook();
  if (file) view.announce(`Your painting ${file.name || ""} is the style now.`);
}

/**
 * Why a painting cannot be used, or null. Its pixels are not held to the photo's limit: the server
 * reads a style image at the encoder's small size.
 * @param {File} file
 * @param {string} url its object URL
 * @returns {Promise<string | null>}
 */
async function paintingProblem(file, url) {
  if (state.limits) {
    const head = new Uint8Array(await file.slice(0, SNIFF_BYTES).arrayBuffer());
    const problem = fileProblem(file.size, head, state.limits);
    if (problem) return problem;
  }
  return decodeProblem(new Image(), url);
}

/** Shows the painting that will be used beside the photo. */
function showLook() {
  const { painting, paintingUrl, preset } = state.look;
  if (painting) {
    lookView.showPainting(paintingUrl, `Style: your painting (${painting.name || "pasted"})`, true);
    return;
  }
  const chosen = currentStyle()?.presets?.find((p) => p.id === preset);
  lookView.showPainting(chosen ? chosen.preview_url : null, chosen ? `Style: ${chosen.name}` : "", false);
}

async function restyle() {
  if (state.busy) return;
  if (state.checking) await state.checking;  // a large photo chosen a moment ago may still be decoding
  if (state.busy) return;
  view.clearError();
  if (!state.file) return view.showError("Choose a photo first: drop it on the page, paste it or pick a file.");
  if (!state.style) return view.showError("Choose a style for your photo.");
  // The job's own style and file: the person may pick another style while it runs.
  const file = state.file;
  const styleId = state.style;
  const styleName = state.styles.find((s) => s.id === styleId)?.name || styleId;
  state.busy = true;
  view.setBusy(true);
  view.clearResult();
  view.revealStage();
  view.announce("Restyling started.");
  view.showProgress(0, 0, `Uploading ${fileSize(file.size)}…`);
  try {
    const conditioned = currentStyle()?.kind === "conditioned";
    const look = conditioned ? state.look : { keepColors: state.look.keepColors };
    if (state.batch.length > 1) return await restyleBatch(state.batch, styleId, look);
    if (state.clip) return await clips.restyle(file, styleId, state.strength, look, styleName);
    const job = await createJob(file, styleId, state.strength, (sent, total) =>
      view.showProgress(sent, total, `Uploading ${fileSize(sent)} of ${fileSize(total)}…`), look);
    view.showProgress(0, job.total);
    const finished = await followJob(job, (done, total) => view.showProgress(done, total));
    const { blob, filename } = await fetchResult(finished);
    forget(state.resultUrl);
    state.resultUrl = URL.createObjectURL(blob);
    view.showResult(state.resultUrl, filename, `${styleName}, version ${finished.version} · ${fileSize(blob.size)}`);
    view.announce("Your photo is restyled. Compare it with the slider, or download it.");
  } catch (error) {
    view.hideProgress();
    view.showError(error instanceof ApiError ? error.message : "Something went wrong in this page. Please reload it.");
    if (!(error instanceof ApiError)) console.error(error);
  } finally {
    state.busy = false;
    view.setBusy(false);
  }
}

/**
 * @param {File[]} files
 * @param {string} styleId
 * @param {import("./api.js").Look} look
 */
async function restyleBatch(files, styleId, look) {
  const batch = await createBatch(files, styleId, state.strength, (sent, total) =>
    view.showProgress(sent, total, `Uploading ${fileSize(sent)} of ${fileSize(total)}…`), look);
  const label = (/** @type {number} */ done, /** @type {number} */ total) => `${done} of ${total} photos restyled…`;
  const finished = await followBatch(batch, (done, total) => view.showProgress(done, total, label(done, total)));
  view.hideProgress();
  const failed = finished.failed_photos ? `, ${finished.failed_photos} failed (see errors.txt)` : "";
  view.showBatchResult(finished.result_url, `${finished.done_photos} of ${finished.total_photos} photos restyled${failed}`);
  view.announce("Your photos are restyled. Download them as one zip.");
}

// While the inference server starts (make run starts both at once), keep asking instead of giving up.
const STYLES_RETRY_MS = 3000;

async function loadStyles() {
  try {
    state.styles = await fetchStyles();
  } catch (error) {
    if (error instanceof ApiError && (error.status === 503 || error.status === 0)) {
      view.renderStylesWaiting(`${error.message} Trying again…`);
      setTimeout(loadStyles, STYLES_RETRY_MS);
    } else {
      view.renderStylesError(error instanceof ApiError ? error.message : "The styles could not be loaded.");
    }
    return;
  }
  view.renderStyles(state.styles);
  const first = state.styles.find((s) => s.status === "SERVING");
  if (first) pickStyle(first.id);
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
}

view.bindFile(pickPhotos);
view.bindStyle(pickStyle);
view.bindStrength((strength) => { state.strength = strength; });
view.bindSubmit(restyle);
lookView.bindPreset(pickPreset);
lookView.bindPainting(pickPainting);
lookView.bindMix((presetId, share) => { state.look.mixWith = presetId; state.look.mix = share; });
lookView.bindKeepColors((keep) => { state.look.keepColors = keep; });
loadLimits();
loadStyles();
