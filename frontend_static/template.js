/**
 * Pure functions that turn data into HTML text or display strings. Every user or server text is
 * escaped here, so the view can assign innerHTML safely.
 */

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

/**
 * @param {number} done
 * @param {number} total
 * @returns {string}
 */
export function progressLabel(done, total) {
  if (total <= 0) return "Waiting for the inference server…";
  if (done >= total) return `Restyled all ${total} tiles`;
  return `Restyling… ${done} of ${total} tiles (${Math.floor((100 * done) / total)}%)`;
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
