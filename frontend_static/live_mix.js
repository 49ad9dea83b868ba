/**
 * Strength in the browser. For a style whose strength is a pixel mix with the photo (the server's
 * `strength * result + (1 - strength) * photo`, tessera.pixels.blend_to_rgb8), the page asks the server
 * for the result at strength 1 once, then shows any strength by laying the result over the photo with
 * that opacity, and makes the download from the same two full-size images on a canvas: no request per
 * slider move, and the file holds what is shown.
 */

/** @typedef {import("./template.js").Style} Style */

/**
 * Whether the style's strength mixes pixels (the page can do it) or changes the model's input (only
 * the server can). The gateway says so in `strength_mode`; from older gateways, fixed styles mix pixels.
 * @param {Style | undefined} style
 * @returns {boolean}
 */
export function strengthMixesPixels(style) {
  if (!style) return false;
  if (style.strength_mode) return style.strength_mode === "pixel_mix";
  return style.kind !== "conditioned";
}

/**
 * The full-size mix of `result` over `photo` (both decoded, same size) as an encoded file.
 * @param {HTMLImageElement} result the result at strength 1
 * @param {HTMLImageElement} photo the photo as uploaded (EXIF orientation applied, as the server does)
 * @param {number} strength 0 to 1
 * @param {string} type MIME type of the file, e.g. "image/jpeg"
 * @returns {Promise<Blob>}
 */
export async function mixedBlob(result, photo, strength, type) {
  const canvas = document.createElement("canvas");
  canvas.width = result.naturalWidth;
  canvas.height = result.naturalHeight;
  const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  context.drawImage(photo, 0, 0, canvas.width, canvas.height);
  context.globalAlpha = strength;
  context.drawImage(result, 0, 0);
  return new Promise((resolve, reject) => canvas.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error("The browser could not encode the mixed image."))),
    type, 0.95));
}

/**
 * A small JPEG of an image as a data: URL, for the results list (it outlives the page's object URLs).
 * @param {HTMLImageElement} image decoded
 * @param {number} side longest side in pixels
 * @returns {string}
 */
export function thumbnail(image, side = 160) {
  const ratio = Math.min(1, side / Math.max(image.naturalWidth, image.naturalHeight, 1));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(image.naturalWidth * ratio));
  canvas.height = Math.max(1, Math.round(image.naturalHeight * ratio));
  const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  context.drawImage(image, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/jpeg", 0.8);
}

/**
 * @param {string} filename e.g. "astronaut-moss.jpg"
 * @returns {string} the MIME type its extension names (PNG when unknown)
 */
export function typeOf(filename) {
  const extension = (filename.split(".").pop() || "").toLowerCase();
  return { jpg: "image/jpeg", jpeg: "image/jpeg", webp: "image/webp" }[extension] || "image/png";
}
