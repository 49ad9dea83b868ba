/**
 * Tells a video clip from a photo by its bytes, as the gateway's tessera/video_sniff.py does (the same
 * decision, checked by tests/bff/test_still_frames.py): what the page sends as a clip job, as a photo,
 * or refuses (a one-frame GIF; a clip chosen as a painting).
 */

export const CLIP_SNIFF_BYTES = 32;
const ASCII = new TextDecoder("latin1");
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
// ISO base media files whose major brand holds no video (HEIF photos and image sequences, AVIF, JPEG 2000
// in HEIF, a CR3 raw photo, M4A/M4B/M4P and F4A/F4B audio): tessera/video_sniff.py's NOT_VIDEO_BRANDS.
const NOT_VIDEO_BRANDS = new Set(["heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs", "mif1",
  "mif2", "msf1", "miaf", "avif", "avis", "avio", "avci", "avcs", "jpeg", "jpgs", "vvic", "vvis", "j2ki",
  "j2is", "crx ", "M4A ", "M4B ", "M4P ", "F4A ", "F4B "]);

// How a message names each kind clipKind tells (tessera/video_sniff.py's CLIP_NAMES).
export const CLIP_NAMES = /** @type {Record<string, string>} */ ({
  mp4: "an MP4", mov: "a MOV", webm: "a WebM", gif: "an animated GIF", webp: "an animated WebP",
  apng: "an animated PNG" });

/**
 * A one-frame GIF is a still image in a format the gateway does not read (its 415 still_gif).
 * @param {string} what what it was chosen as: "photo" or "painting"
 * @returns {string}
 */
export function stillGifProblem(what) {
  return `That GIF holds a single frame, a still image, and GIF is not read as a ${what}: `
    + "save it as PNG or JPEG and choose that file instead.";
}

export const STILL_GIF = stillGifProblem("photo");

/**
 * "mp4" or "mov" for a file starting with an ftyp box, by its major brand; null for a photo or audio
 * brand, or a box too short to name one. The box's size may be 0 (it runs to the end of the file) or 1
 * (a 64-bit size follows the type, then the brand), as ISO/IEC 14496-12 allows; video_sniff.py alike.
 * @param {Uint8Array} bytes
 * @param {(from: number, to: number) => string} text
 * @returns {string | null}
 */
function isoMediaKind(bytes, text) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let size = bytes.length >= 4 ? view.getUint32(0) : 0;
  let brandAt = 8;
  if (size === 1) {
    size = bytes.length >= 16 ? Number(view.getBigUint64(8)) : 0;
    brandAt = 16;
  } else if (size === 0) {
    size = bytes.length;
  }
  if (bytes.length < brandAt + 8 || size < brandAt + 8) return null;  // no major brand and minor version
  const brand = text(brandAt, brandAt + 4);
  if (NOT_VIDEO_BRANDS.has(brand)) return null;
  return brand === "qt  " ? "mov" : "mp4";
}

/**
 * The clip's container ('mp4', 'mov', 'webm', 'gif', animated 'webp', animated PNG 'apng'), or null; the
 * same decision as the gateway's tessera/video_sniff.py: a GIF, animated WebP or APNG is a clip only with
 * two frames or more (an APNG's acTL chunk declares them), and an ISO media file of a photo or audio
 * brand (HEIC, AVIF, M4A) is none.
 * @param {Uint8Array} bytes the whole file for a GIF, WebP or PNG (fileBytes), else CLIP_SNIFF_BYTES or more
 * @returns {string | null}
 */
export function clipKind(bytes) {
  const text = (/** @type {number} */ from, /** @type {number} */ to) => ASCII.decode(bytes.slice(from, to));
  if (text(4, 8) === "ftyp") return isoMediaKind(bytes, text);
  if (["moov", "mdat", "wide", "free"].includes(text(4, 8))) return "mov";
  if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return "webm";
  if (isGif(bytes)) return gifFrames(bytes) > 1 ? "gif" : null;
  if (text(0, 4) === "RIFF" && text(8, 16) === "WEBPVP8X" && (bytes[20] & 0x02) !== 0) {
    return webpFrames(bytes) > 1 ? "webp" : null;
  }
  if (isPng(bytes)) return apngFrames(bytes) > 1 ? "apng" : null;
  return null;
}

/**
 * The bytes clipKind needs: the first CLIP_SNIFF_BYTES, or the whole file for a GIF, WebP or PNG (frames
 * are counted; a PNG's acTL sits before its image data, but its photo is read whole for the upload anyway).
 * @param {Blob} file
 * @returns {Promise<Uint8Array>}
 */
export async function fileBytes(file) {
  const head = new Uint8Array(await file.slice(0, CLIP_SNIFF_BYTES).arrayBuffer());
  const whole = isGif(head) || ASCII.decode(head.slice(0, 4)) === "RIFF" || isPng(head);
  return whole ? new Uint8Array(await file.arrayBuffer()) : head;
}

/**
 * @param {Uint8Array} bytes the whole file
 * @returns {boolean} whether it is a GIF of one frame (or none left readable)
 */
export function isStillGif(bytes) {
  return isGif(bytes) && gifFrames(bytes) < 2;
}

/** @param {Uint8Array} bytes */
function isGif(bytes) {
  const text = ASCII.decode(bytes.slice(0, 6));
  return text === "GIF87a" || text === "GIF89a";
}

/**
 * Image descriptors in a GIF's block stream, up to two (walked, not decoded).
 * @param {Uint8Array} bytes
 * @returns {number}
 */
function gifFrames(bytes) {
  const table = (/** @type {number} */ flags) => (flags & 0x80 ? 3 << ((flags & 0x07) + 1) : 0);
  const skipSubBlocks = (/** @type {number} */ pos) => {
    while (pos < bytes.length) {
      const size = bytes[pos];
      pos += 1 + size;
      if (size === 0) break;
    }
    return pos;
  };
  if (bytes.length < 13) return 0;
  let pos = 13 + table(bytes[10]);
  let frames = 0;
  while (pos < bytes.length && frames < 2) {
    if (bytes[pos] === 0x2c) {  // image descriptor: 9 bytes, a colour table, the LZW code size, sub-blocks
      if (pos + 10 > bytes.length) break;
      frames += 1;
      pos = skipSubBlocks(pos + 11 + table(bytes[pos + 9]));
    } else if (bytes[pos] === 0x21) {  // extension: its label, then sub-blocks
      pos = skipSubBlocks(pos + 2);
    } else {
      break;  // the trailer, or a damaged stream
    }
  }
  return frames;
}

/** @param {Uint8Array} bytes */
function isPng(bytes) {
  return PNG_SIGNATURE.every((byte, i) => bytes[i] === byte);
}

/**
 * The frames an APNG's acTL chunk declares: 0 for a plain PNG, or an acTL whose CRC fails (a browser
 * drops such a chunk and shows the still image, as tessera/png_chunks.py reads it; the gateway then
 * answers the upload 422, damaged, as Pillow refuses the file). Its chunks are
 * walked up to the image data.
 * @param {Uint8Array} bytes
 * @returns {number}
 */
function apngFrames(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = PNG_SIGNATURE.length;
  while (pos + 12 <= bytes.length) {
    const size = view.getUint32(pos);
    const kind = ASCII.decode(bytes.slice(pos + 4, pos + 8));
    if (kind === "IDAT" || pos + 12 + size > bytes.length) break;
    if (kind === "acTL") {
      const intact = crc32(bytes.subarray(pos + 4, pos + 8 + size)) === view.getUint32(pos + 8 + size);
      return intact && size >= 8 ? view.getUint32(pos + 8) : 0;
    }
    pos += 12 + size;
  }
  return 0;
}

/** @type {Uint32Array | null} */
let crcTable = null;

/**
 * CRC-32 (ISO 3309, the polynomial of PNG's chunk check and zlib's crc32) of the bytes.
 * @param {Uint8Array} bytes
 * @returns {number} unsigned 32-bit
 */
function crc32(bytes) {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n += 1) {
      let c = n;
      for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * ANMF chunks in an animated WebP's RIFF stream, up to two.
 * @param {Uint8Array} bytes
 * @returns {number}
 */
function webpFrames(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 12;
  let frames = 0;
  while (pos + 8 <= bytes.length && frames < 2) {
    const size = view.getUint32(pos + 4, true);
    if (ASCII.decode(bytes.slice(pos, pos + 4)) === "ANMF") frames += 1;
    pos += 8 + size + (size & 1);
  }
  return frames;
}

/**
 * @typedef {{max_seconds: number, max_megapixels: number}} ClipLimits
 */
