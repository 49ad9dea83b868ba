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
 * @property {number} [max_aspect_ratio] longest side over shortest at most
 * @property {number} [max_style_image_pixels] a painting's width × height at most
 * @property {Format[]} formats
 * @property {{label: string, signature: [number, string][]}[]} [unread_formats] well-known formats refused
 *   (HEIC, AVIF, TIFF, BMP), so that a refusal can say what the file is
 * @property {{max_seconds: number}} [clips] what a video clip may be
 * @property {{store?: "memory" | "redis"}} [photos] stored photos: where the gateway keeps them
 */

/** @typedef {{width: number, height: number}} Size in pixels */

/** Enough leading bytes for every signature in the table. */
export const SNIFF_BYTES = 16;
/** Enough leading bytes to hold the size of a PNG, a WebP, and a JPEG after its EXIF and ICC segments. */
export const HEADER_BYTES = 512 * 1024;

// JPEG frame headers (SOF0-SOF15) hold the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
const JPEG_FRAMES = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/**
 * The stored size a PNG, JPEG or WebP header declares, or null when `head` does not hold one. Read
 * before decoding, so an image too large for the browser to decode gets the limit's message, not
 * "damaged". A JPEG's size is as stored: its EXIF orientation may swap the two upright.
 * @param {Uint8Array} head the file's first bytes (up to HEADER_BYTES)
 * @returns {Size | null}
 */
export function headerSize(head) {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 24 && head[0] === 0x89 && ascii(head, 12, 4) === "IHDR") {
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (head.length >= 30 && ascii(head, 0, 4) === "RIFF" && ascii(head, 8, 4) === "WEBP") {
    return webpSize(view, ascii(head, 12, 4));
  }
  if (head.length >= 4 && head[0] === 0xff && head[1] === 0xd8) return jpegSize(head, view);
  return null;
}

/**
 * Whether a whole PNG, JPEG or WebP file ends before its image data does, judged as the gateway's
 * decoder would (Chromium shows such a file, grey below the cut; the gateway refuses it): a JPEG with
 * no end-of-image marker after its first scan, a PNG whose chunk before IEND runs past the end, a
 * WebP shorter than its RIFF header says. A missing IEND alone is no cut, as for the decoder.
 * @param {Uint8Array} bytes the whole file
 * @returns {boolean}
 */
export function cutShort(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WEBP") {
    return view.getUint32(4, true) + 8 > bytes.length;
  }
  if (bytes.length >= 8 && bytes[0] === 0x89 && ascii(bytes, 1, 3) === "PNG") return pngCutShort(bytes, view);
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegCutShort(bytes, view);
  return false;
}

/**
 * @param {Uint8Array} bytes
 * @param {DataView} view
 * @returns {boolean}
 */
function pngCutShort(bytes, view) {
  for (let at = 8; at + 8 <= bytes.length; at += 12 + view.getUint32(at)) {
    if (ascii(bytes, at + 4, 4) === "IEND") return false;
    if (at + 12 + view.getUint32(at) > bytes.length) return true;
  }
  return false;
}

/**
 * @param {Uint8Array} bytes
 * @param {DataView} view
 * @returns {boolean}
 */
function jpegCutShort(bytes, view) {
  // From the first scan on: an embedded EXIF thumbnail's own end marker must not count.
  const scan = jpegMarker(bytes, view, (marker) => marker === 0xda);
  if (scan < 0) return false;  // not a marker where one belongs: leave it to the decoder
  for (let end = bytes.length - 2; end > scan; end -= 1) {
    if (bytes[end] === 0xff && bytes[end + 1] === 0xd9) return false;
  }
  return true;
}

/**
 * @param {DataView} view the file's first bytes (at least 30)
 * @param {string} chunk the first chunk's name
 * @returns {Size | null}
 */
function webpSize(view, chunk) {
  if (chunk === "VP8 ") return { width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
  if (chunk === "VP8L") {
    const bits = view.getUint32(21, true);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === "VP8X") {
    const width = view.getUint16(24, true) + (view.getUint8(26) << 16) + 1;
    return { width, height: view.getUint16(27, true) + (view.getUint8(29) << 16) + 1 };
  }
  return null;
}

/**
 * The JPEG's frame header size; null when a scan or the end comes first, or the bytes end before it.
 * @param {Uint8Array} head
 * @param {DataView} view
 * @returns {Size | null}
 */
function jpegSize(head, view) {
  const at = jpegMarker(head, view, (marker) => JPEG_FRAMES.has(marker) || marker === 0xda || marker === 0xd9);
  if (at < 0 || at + 9 >= head.length || !JPEG_FRAMES.has(head[at + 1])) return null;
  return { width: view.getUint16(at + 7), height: view.getUint16(at + 5) };
}

/**
 * Walks a JPEG's marker segments from its start-of-image by their lengths (skipping fill bytes) to
 * the first marker `stop` accepts.
 * @param {Uint8Array} bytes
 * @param {DataView} view
 * @param {(marker: number) => boolean} stop
 * @returns {number} that marker's offset; where the bytes ran out (within 3 of their end, or past
 *   it) when none came; -1 at a byte that is not a marker where one belongs
 */
function jpegMarker(bytes, view, stop) {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return -1;
    const marker = bytes[at + 1];
    if (marker === 0xff) { at += 1; continue; }  // fill byte
    if (stop(marker)) return at;
    at += marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7) ? 2 : 2 + view.getUint16(at + 2);
  }
  return at;
}

/**
 * @param {Uint8Array} bytes
 * @param {number} at
 * @param {number} length
 * @returns {string} the bytes as Latin-1 text (a chunk or container name)
 */
function ascii(bytes, at, length) {
  return String.fromCharCode(...bytes.subarray(at, at + length));
}

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
 * @param {string} [what] what the file was chosen as, for the sentence: "photo" or "painting"
 * @returns {string | null}
 */
export function fileProblem(bytes, head, limits, what = "photo") {
  if (bytes === 0) return `That file is empty. Choose a ${what}.`;
  if (!sniffFormat(head, limits.formats)) {
    // The gateway's sentence (tessera/formats.py not_read): a phone's HEIC photo is told what it is.
    const other = sniffFormat(head, /** @type {Format[]} */ (limits.unread_formats || []));
    const article = other && "AEIOU".includes(other.label[0]) ? "an" : "a";
    const hint = other ? ` (it is ${article} ${other.label} image: save or export it as JPEG or PNG, and choose `
      + "that file)" : "";
    return `That file is not a ${formatList(limits.formats)} image${hint}.`;
  }
  if (bytes > limits.max_upload_bytes) {
    return `That file is ${megabytes(bytes)} MB; the limit is ${megabytes(limits.max_upload_bytes)} MB.`;
  }
  return null;
}

/**
 * Why a photo of this size cannot be restyled: over the pixel limit, or too long and thin (the
 * gateway's 400 bad_shape); null when it can.
 * @param {Size} size width and height in pixels, as the browser shows it or as its header declares
 * @param {Limits} limits
 * @returns {string | null}
 */
export function sizeProblem({ width, height }, limits) {
  return pixelProblem(width, height, limits.max_pixels, "image") || shapeProblem(width, height, limits.max_aspect_ratio);
}

/**
 * Why a painting of this size cannot be used (its own pixel limit: the server reads it small); null when it can.
 * @param {Size} size
 * @param {Limits} limits
 * @returns {string | null}
 */
export function paintingSizeProblem({ width, height }, limits) {
  return limits.max_style_image_pixels ? pixelProblem(width, height, limits.max_style_image_pixels, "painting") : null;
}

/**
 * @param {number} width
 * @param {number} height
 * @param {number} maxPixels
 * @param {string} what "image" or "painting"
 * @returns {string | null}
 */
function pixelProblem(width, height, maxPixels, what) {
  if (width * height <= maxPixels) return null;
  const [counted, limit] = pixelCounts(width * height, maxPixels);
  return `That ${what} is ${width} × ${height} (${counted}); the limit is ${limit}.`;
}

// A pixel limit from this many pixels on reads well in megapixels; a smaller one is said in pixels (as
// tessera.imageio.MEGAPIXELS_FROM, which the gateway's and the CLI's messages follow).
const MEGAPIXELS_FROM = 100_000;

/**
 * An image's pixels and the limit it is over, in the unit the limit reads well in (tessera.imageio.pixel_counts):
 * megapixels to two decimals, unless the limit is small or both would read the same, else pixels.
 * @param {number} pixels
 * @param {number} limit
 * @returns {[string, string]} e.g. ["120,000 pixels", "100,000 pixels"], ["190 megapixels", "50 megapixels"]
 */
function pixelCounts(pixels, limit) {
  const mp = (/** @type {number} */ n) => `${(n / 1e6).toLocaleString("en", { maximumFractionDigits: 2 })} megapixels`;
  const [counted, allowed] = [mp(pixels), mp(limit)];
  if (limit < MEGAPIXELS_FROM || counted === allowed) {
    return [`${pixels.toLocaleString("en")} pixels`, `${limit.toLocaleString("en")} pixels`];
  }
  return [counted, allowed];
}

/**
 * @param {number} width
 * @param {number} height
 * @param {number | undefined} maxRatio
 * @returns {string | null}
 */
function shapeProblem(width, height, maxRatio) {
  if (!maxRatio || Math.max(width, height) <= maxRatio * Math.min(width, height)) return null;
  return `That image is ${width} × ${height}: one side may be at most ${maxRatio.toLocaleString("en")} ` +
    "times the other. Crop or pad it first.";
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
 * @returns {string} e.g. "PNG, JPEG or WebP photo, up to 25 MB and 50 megapixels (several come back as one
 *   zip), or a video clip of up to 60 s": all the drop zone takes, as its text before the limits came
 */
export function limitsHint(limits) {
  const clips = limits.clips ? `, or a video clip of up to ${limits.clips.max_seconds} s` : "";
  return `${formatList(limits.formats)} photo, up to ${megabytes(limits.max_upload_bytes)} MB ` +
    `and ${megapixels(limits.max_pixels)} megapixels (several come back as one zip)${clips}`;
}
