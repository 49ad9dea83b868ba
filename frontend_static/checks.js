/**
 * What a chosen file must be before it is sent: pure checks against the limits the gateway
 * publishes at /api/limits (the same numbers and format table it checks every upload with).
 */

/**
 * @typedef {object} Format
 * @property {string} name
 * @property {string} label e.g. "WebP"
 * @property {number | null} max_side
 * @property {Array<[number, string]>} signature [offset, hex bytes] pairs the file must start with
 */

/**
 * @typedef {object} Limits
 * @property {number} max_upload_bytes
 * @property {number} max_pixels
 * @property {Format[]} formats
 */

/** Enough leading bytes for every signature in the table. */
export const SNIFF_BYTES = 16;

/**
 * The format whose signature the file's first bytes hold, or null.
 * @param {Uint8Array} head the file's first SNIFF_BYTES bytes (or fewer for a short file)
 * @param {Format[]} formats
 * @returns {Format | null}
 */
export function sniffFormat(head, formats) {
  const holds = ([offset, hex]) => hex.match(/../g).every((pair, i) => head[offset + i] === parseInt(pair, 16));
  return formats.find((format) => format.signature.every(holds)) || null;
}

/**
 * @param {Format[]} formats
 * @returns {string} e.g. "PNG, JPEG or WebP"
 */
export function formatList(formats) {
  const labels = formats.map((format) => format.label);
  return labels.length > 1 ? `${labels.slice(0, -1).join(", ")} or ${labels[labels.length - 1]}` : labels.join("");
}

/**
 * Why a file cannot be sent, judged from its size and first bytes; null when it may be.
 * @param {number} bytes the file's size
 * @param {Uint8Array} head its first bytes
 * @param {Limits} limits
 * @returns {string | null}
 */
export function fileProblem(bytes, head, limits) {
  if (bytes === 0) return "That file is empty. Choose a photo.";
  if (!sniffFormat(head, limits.formats)) return `That file is not a ${formatList(limits.formats)} image.`;
  if (bytes > limits.max_upload_bytes) {
    return `That file is ${megabytes(bytes)} MB; the limit is ${megabytes(limits.max_upload_bytes)} MB.`;
  }
  return null;
}

/**
 * Why an image of this size cannot be restyled; null when it can.
 * @param {number} width upright width in pixels, as the browser shows it
 * @param {number} height
 * @param {Limits} limits
 * @returns {string | null}
 */
export function pixelProblem(width, height, limits) {
  if (width * height <= limits.max_pixels) return null;
  return `That image is ${width} × ${height} (${megapixels(width * height)} megapixels); ` +
    `the limit is ${megapixels(limits.max_pixels)} megapixels.`;
}

/** @param {number} bytes */
function megabytes(bytes) {
  return Number((bytes / 1e6).toFixed(1));
}

/** @param {number} pixels */
function megapixels(pixels) {
  return Number((pixels / 1e6).toFixed(1));
}

/**
 * @param {Limits} limits
 * @returns {string} e.g. "PNG, JPEG or WebP photo, up to 25 MB and 50 megapixels"
 */
export function limitsHint(limits) {
  return `${formatList(limits.formats)} photo, up to ${megabytes(limits.max_upload_bytes)} MB ` +
    `and ${megapixels(limits.max_pixels)} megapixels`;
}
