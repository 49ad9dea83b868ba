/**
 * Wires the page: state lives here, the view reports what the person does, the API does the work.
 */

import { ApiError, createBatch, createJob, fetchResult, fetchStyles, followBatch, followJob } from "./api.js";
import { LookView } from "./painting.js";
import { fileSize } from "./template.js";
import { View } from "./view.js";

/** @typedef {import("./template.js").Style} Style */

const view = new View();
const lookView = new LookView();

const state = {
  /** @type {File | null} */ file: null,
  /** @type {File[]} */ batch: [],
  /** @type {string | null} */ photoUrl: null,
  /** @type {string | null} */ resultUrl: null,
  /** @type {Style[]} */ styles: [],
  /** @type {string | null} */ style: null,
  strength: view.strengthValueNow(),
  busy: false,
  /** @type {import("./api.js").Look & {paintingUrl: string | null}} */
  look: { preset: null, painting: null, paintingUrl: null, mixWith: "", mix: 0.3,
          keepColors: lookView.keepColorsNow() },
};

/** @param {string | null} url */
function forget(url) {
  if (url) URL.revokeObjectURL(url);
}

/** @param {File[]} files one photo, or several for a batch */
function pickPhotos(files) {
  if (state.busy) return view.showError("Please wait until this photo is finished, then choose the next one.");
  view.clearError();
  forget(state.photoUrl);
  forget(state.resultUrl);
  const [file] = files;
  state.file = file;
  state.batch = files.length > 1 ? files : [];
  state.resultUrl = null;
  state.photoUrl = URL.createObjectURL(file);
  const name = file.name || "Pasted image";
  view.showPhoto(state.photoUrl, files.length > 1 ? `${files.length} photos: ${name} and ${files.length - 1} more` : name);
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

/** @param {File | null} file the person's painting, or null to go back to the presets */
function pickPainting(file) {
  forget(state.look.paintingUrl);
  state.look.painting = file;
  state.look.paintingUrl = file ? URL.createObjectURL(file) : null;
  showLook();
  if (file) view.announce(`Your painting ${file.name || ""} is the style now.`);
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
  view.clearError();
  if (!state.file) return view.showError("Choose a photo first: drop it on the page, paste it or pick a file.");
  if (!state.style) return view.showError("Choose a style for your photo.");
  state.busy = true;
  view.setBusy(true);
  view.clearResult();
  view.revealStage();
  view.announce("Restyling started.");
  view.showProgress(0, 0, `Uploading ${fileSize(state.file.size)}…`);
  try {
    const conditioned = currentStyle()?.kind === "conditioned";
    const look = conditioned ? state.look : { keepColors: state.look.keepColors };
    if (state.batch.length > 1) return await restyleBatch(state.batch, look);
    const job = await createJob(state.file, state.style, state.strength, (sent, total) =>
      view.showProgress(sent, total, `Uploading ${fileSize(sent)} of ${fileSize(total)}…`), look);
    view.showProgress(0, job.total);
    const finished = await followJob(job, (done, total) => view.showProgress(done, total));
    const { blob, filename } = await fetchResult(finished);
    forget(state.resultUrl);
    state.resultUrl = URL.createObjectURL(blob);
    const styleName = state.styles.find((s) => s.id === state.style)?.name ?? state.style;
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
 * @param {import("./api.js").Look} look
 */
async function restyleBatch(files, look) {
  const batch = await createBatch(files, /** @type {string} */ (state.style), state.strength, (sent, total) =>
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

view.bindFile(pickPhotos);
view.bindStyle(pickStyle);
view.bindStrength((strength) => { state.strength = strength; });
view.bindSubmit(restyle);
lookView.bindPreset(pickPreset);
lookView.bindPainting(pickPainting);
lookView.bindMix((presetId, share) => { state.look.mixWith = presetId; state.look.mix = share; });
lookView.bindKeepColors((keep) => { state.look.keepColors = keep; });
loadStyles();
