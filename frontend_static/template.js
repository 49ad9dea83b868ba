/**
 * Pure functions that turn data into HTML text or display strings. Every user or server text is
 * escaped here, so the view can assign innerHTML safely.
 */

import { brushOf } from "./brushes.js";

/**
 * @typedef {object} Style
 * @property {string} id
 * @property {string} name
 * @property {string} description
 * @property {string} credits
 * @property {string} license
 * @property {number} version
 * @property {"SERVING" | "UNAVAILABLE"} status
 * @property {string} status_message
 * @property {string | null} preview_url
 * @property {"fixed" | "conditioned"} [kind] conditioned styles take presets, paintings and mixes
 * @property {boolean} [accepts_style_images]
 * @property {Preset[]} [presets]
 * @property {"pixel_mix" | "style_code" | ""} [strength_mode] what strength does: mix pixels with the photo, or move the style code
 */

/**
 * @typedef {object} Preset a named look of a conditioned style
 * @property {string} id
 * @property {string} name
 * @property {string} credits
 * @property {string} license
 * @property {string | null} preview_url
 */

/** @type {Record<string, string>} */
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/**
 * @param {unknown} text
 * @returns {string} the text with HTML's special characters escaped
 */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

/**
 * One card of the style gallery: a radio button wrapped in its label, so it is keyboard-usable.
 * @param {Style} style
 * @returns {string}
 */
export function styleCard(style) {
  const serving = style.status === "SERVING";
  const title = serving ? style.description : `Unavailable: ${style.status_message}`;
  const preview = style.preview_url
    ? `<img src="${escapeHtml(style.preview_url)}" alt="" loading="lazy" width="160" height="160">`
    : previewPlaceholder(style, serving);
  return `<label class="style-card${serving ? "" : " is-unavailable"}" title="${escapeHtml(title)}">
  <input type="radio" name="style" value="${escapeHtml(style.id)}"${serving ? "" : " disabled"}
         aria-describedby="style-desc-${escapeHtml(style.id)}">
  <span class="style-card__preview">${preview}</span>
  <span class="style-card__badge" aria-hidden="true">✓</span>
  <span class="style-card__name">${escapeHtml(style.name || style.id)}</span>
  <span class="visually-hidden" id="style-desc-${escapeHtml(style.id)}">${escapeHtml(title)}</span>
</label>`;
}

/**
 * One card of a conditioned style's preset gallery (a radio in its label, like the style cards).
 * @param {Preset} preset
 * @returns {string}
 */
export function presetCard(preset) {
  const about = [preset.credits, preset.license].filter(Boolean).join(" · ");
  const preview = preset.preview_url
    ? `<img src="${escapeHtml(preset.preview_url)}" alt="" loading="lazy" width="96" height="96">`
    : `<span class="style-card__placeholder style-card__placeholder--initial">${escapeHtml(preset.name.charAt(0))}</span>`;
  return `<label class="style-card" title="${escapeHtml(about)}">
  <input type="radio" name="preset" value="${escapeHtml(preset.id)}">
  <span class="style-card__preview">${preview}</span>
  <span class="style-card__badge" aria-hidden="true">✓</span>
  <span class="style-card__name">${escapeHtml(preset.name)}</span>
</label>`;
}

/**
 * @param {Preset} preset
 * @returns {string} an <option> of the "mix with" list
 */
export function presetOption(preset) {
  return `<option value="${escapeHtml(preset.id)}">${escapeHtml(preset.name)}</option>`;
}

/**
 * What a card shows without a preview: "Unavailable", or the style's initial.
 * @param {Style} style
 * @param {boolean} serving
 * @returns {string}
 */
function previewPlaceholder(style, serving) {
  if (!serving) return `<span class="style-card__placeholder">Unavailable</span>`;
  const initial = (style.name || style.id).charAt(0).toUpperCase();
  return `<span class="style-card__placeholder style-card__placeholder--initial">${escapeHtml(initial)}</span>`;
}

/**
 * What the gallery says about the chosen style: its description, and its credits and licence
 * folded away in a disclosure (they can be long, and they matter).
 * @param {Style} style
 * @returns {string}
 */
export function styleInfo(style) {
  const description = `<p class="style-info__description">${escapeHtml(style.description)}</p>`;
  const notes = [style.credits, style.license].filter(Boolean).map((text) => `<p>${escapeHtml(text)}</p>`);
  if (!notes.length) return description;
  return `${description}<details class="style-info__credits"><summary>Credits and licence</summary>${notes.join("")}</details>`;
}

/**
 * A muted line of text in place of the gallery.
 * @param {string} message
 * @returns {string}
 */
export function statusLine(message) {
  return `<p class="muted style-grid__status">${escapeHtml(message)}</p>`;
}

const FINISHING = "Finishing: saving your picture…";

/**
 * The progress line in a person's words: how far, never the tiles the server cuts the photo into.
 * @param {number} done tiles done
 * @param {number} total tiles in all; 0 while unknown
 * @returns {string} e.g. "Restyling: 40%", then "Finishing: saving your picture…" once every tile is
 *   painted: the result is still enlarged and encoded (seconds for 12 MP); the page says "Restyled" itself
 *   when the result is shown
 */
export function progressLabel(done, total) {
  if (total <= 0) return "Waiting for the server…";
  if (done >= total) return FINISHING;
  return `Restyling: ${Math.floor((100 * done) / total)}%`;
}

/**
 * @param {number} width
 * @param {number} height
 * @returns {string} e.g. "4000 × 3000 px"
 */
export function imageSize(width, height) {
  return `${width} × ${height} px`;
}

/**
 * @param {number} bytes
 * @returns {string} e.g. "2.4 MB"
 */
export function fileSize(bytes) {
  if (bytes < 1e6) return `${Math.max(1, Math.round(bytes / 1e3))} kB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * @param {number} time ms since the epoch
 * @returns {string} e.g. "15:03"
 */
export function clockTime(time) {
  return new Date(time).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/**
 * @param {string} scale brush scale: "auto" or the working scale in (0, 1]
 * @returns {string} the brush as its control names it (brushes.js): "brush: Auto", "brush: Finest",
 *   "brush: Strokes 2× larger"
 */
export function scaleLabel(scale) {
  return `brush: ${brushOf(scale).name}`;
}

/**
 * @param {string} name the person's painting's file name ("" when it was pasted without one)
 * @returns {string} e.g. "your painting (monet.jpg)"
 */
export function paintingLabel(name) {
  return `your painting (${name || "pasted"})`;
}

/**
 * @param {string} base what paints: a preset's name, or paintingLabel()
 * @param {string | null} second the preset mixed in, if any
 * @param {number} share its share, 0 to 1
 * @returns {string} e.g. "your painting (monet.jpg) mixed with Swirls at 60%"
 */
export function lookLabel(base, second, share) {
  return second ? `${base} mixed with ${second} at ${Math.round(share * 100)}%` : base;
}

/**
 * How a result was painted, wherever it is described (the list, the line under the stage, the comparison):
 * its style, with the look of a conditioned style, and whether it kept the photo's colours.
 * @param {import("./store.js").Result} result
 * @returns {string} e.g. "Moss", "Any painting: Mosaic", "Moss (your photo's colours)"
 */
export function resultStyle(result) {
  return result.keepColors ? `${styleAndLook(result)} (your photo's colours)` : styleAndLook(result);
}

/**
 * @param {import("./store.js").Result} result
 * @returns {string} its style, with the look of a conditioned style: e.g. "Moss", "Any painting: Mosaic"
 */
export function styleAndLook(result) {
  return result.look ? `${result.styleName}: ${result.look.name}` : result.styleName;
}

/**
 * One line about a result, also its images' accessible name; among results of several photos it names
 * its photo first.
 * @param {import("./store.js").Result} result
 * @param {string | null} [photo] its photo's words, while the results it is listed with come from more
 *   than one photo (photo_names.photoLabels): e.g. "beach.jpg", "photo.jpg (2)"
 * @returns {string} e.g. "Moss · strength 80% · brush: Finest · 15:03", "beach.jpg · Any painting: Mosaic · strength 80% · …"
 */
export function resultCaption(result, photo = null) {
  return `${photo ? `${photo} · ` : ""}${resultStyle(result)} · strength ${Math.round(result.strength * 100)}% · ` +
    `${scaleLabel(result.scale)} · ${clockTime(result.time)}`;
}

/**
 * The line under the result on the stage.
 * @param {import("./store.js").Result} result
 * @returns {string} e.g. "Moss, version 3 · strength 80% · brush: Finest · 2.4 MB", "Any painting: Mosaic, version 4 · …"
 */
export function stageLine(result) {
  return `${resultStyle(result)}, version ${result.version} · strength ${Math.round(result.strength * 100)}% · ` +
    `${scaleLabel(result.scale)} · ${fileSize(result.bytes)}`;
}

/**
 * One entry of the results list: thumbnail, what made it, show, tick to compare, and the download of its
 * file on the gateway, which works until the gateway forgets it ("Download until 15:33").
 * @param {import("./store.js").Result} result
 * @param {boolean} picked ticked for comparison
 * @param {string} filename what its file downloads as (photo_names.downloadName)
 * @param {string | null} [photo] as for resultCaption
 * @returns {string}
 */
export function resultItem(result, picked, filename, photo = null) {
  const caption = escapeHtml(resultCaption(result, photo));
  const id = escapeHtml(result.id);
  const until = result.expiresAt ? ` until ${clockTime(result.expiresAt)}` : "";
  // A pixel mix shown below the strength it was made at: the link is the server's file, at full strength
  // (the stage's download is the mix, under a name of its own: photo_names.downloadName).
  const full = result.pixelMix && result.strength < result.madeAt;
  const label = `Download the ${full ? "full-strength " : ""}file of ${resultCaption(result, photo)}${until}`;
  return `<li class="result-item">
  <img class="result-item__thumb" src="${escapeHtml(result.thumb)}" alt="" width="64" height="64">
  <span class="result-item__text">${caption}</span>
  <span class="result-item__actions">
    <button class="button button--quiet" type="button" data-show="${id}" aria-label="Show ${caption}">Show</button>
    <label class="result-item__pick"><input type="checkbox" data-pick="${id}"${picked ? " checked" : ""}
      aria-label="Compare ${caption}"> Compare</label>
    <a class="small" href="${escapeHtml(result.url)}" download="${escapeHtml(filename)}"
       aria-label="${escapeHtml(label)}">${escapeHtml(`Download${full ? " (full strength)" : ""}${until}`)}</a>
  </span>
</li>`;
}

/**
 * What the footer says of where photos are kept, as the gateway's job store keeps them (GET /api/limits).
 * @param {string | undefined} store "memory", "redis", or unknown (an older gateway)
 * @returns {string}
 */
export function keptWhere(store) {
  if (store === "memory") return "your photos are kept in this server's memory only, and only for a short while.";
  if (store === "redis") {
    return "your photos are kept in the server's job store (Redis), which may save them to disk, and only " +
      "for a short while.";
  }
  return "your photos are kept only for a short while.";
}

/**
 * @param {number} seconds
 * @returns {string} e.g. "about 40 s", "about 3 min"
 */
export function duration(seconds) {
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s`;
  return `about ${Math.round(seconds / 60)} min`;
}

/**
 * The progress line of a job: its place in the queue while it waits, then how far and time left.
 * @param {number} done tiles done
 * @param {number} total tiles in all; 0 while unknown
 * @param {{place?: number | null, left?: number | null}} [waiting] queue place (1 = next), seconds left
 * @returns {string}
 */
export function jobLabel(done, total, waiting = {}) {
  if (waiting.place) {
    const ahead = waiting.place - 1;
    const line = ahead > 0 ? `Queued: ${ahead} ${ahead === 1 ? "job" : "jobs"} ahead of yours` : "Queued: yours is next";
    return waiting.left == null ? line : `${line} · done in ${duration(waiting.left)}`;
  }
  const line = progressLabel(done, total);
  if (waiting.left == null || done >= total || total <= 0) return line;
  return `${line} · ${duration(waiting.left)} left`;
}

/**
 * One card of the "every style on your photo" grid: a button that makes the full-size result.
 * @param {import("./previews.js").Choice} choice
 * @param {number} index its place in the grid
 * @param {string} url the preview's URL
 * @param {string} photoUrl the photo, laid under a pixel-mix preview
 * @param {boolean} [later] true: the URL waits in data-src until the card is seen (previews.js)
 * @returns {string}
 */
export function previewCard(choice, index, url, photoUrl, later = false) {
  const name = escapeHtml(choice.name);
  const under = choice.pixelMix ? `<img class="preview-card__photo" src="${escapeHtml(photoUrl)}" alt="">` : "";
  const state = later ? "is-pending" : "is-loading";
  return `<li><button class="preview-card ${state}${choice.pixelMix ? " is-pixel-mix" : ""}" type="button"
    data-choice="${index}" aria-label="Make the full-size result in ${name}">
  <span class="preview-card__image">${under}<img data-preview="${index}" ${later ? "data-src" : "src"}="${escapeHtml(url)}"
    alt="Your photo in ${name}"></span>
  <span class="preview-card__name">${name}</span>
</button></li>`;
}
