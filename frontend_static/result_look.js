/**
 * The look a conditioned style's result is painted like (a preset, the person's painting, or either
 * mixed with a preset), named and pictured once as its job starts: the result keeps it (store.js),
 * whatever the controls hold later, and after a reload, when the painting's object URL is gone.
 */

import { thumbnail } from "./live_mix.js";
import { lookLabel, paintingLabel } from "./template.js";

/** @typedef {import("./template.js").Style} Style */
/** @typedef {import("./store.js").ResultLook} ResultLook */
/** @typedef {import("./api.js").Look} Look */

/**
 * @param {Style} style
 * @param {Look} look as sent
 * @returns {Promise<ResultLook | null>} null for a fixed style
 */
export async function resultLook(style, look) {
  const name = lookName(style, look);
  if (name === null) return null;
  const preset = (style.presets || []).find((p) => p.id === look.preset);
  const image = look.painting ? await paintingThumbnail(look.painting) : preset?.preview_url || null;
  const mixWith = look.mixWith || null;
  return { name, image, painting: Boolean(look.painting), mixWith, mix: mixWith ? look.mix ?? 0 : 0 };
}

/**
 * The look's name as a result keeps it, e.g. "your painting (monet.jpg) mixed with Swirls at 60%".
 * @param {Style} style
 * @param {Look} look
 * @returns {string | null} null for a fixed style, or a conditioned one with nothing chosen
 */
export function lookName(style, look) {
  if (style.kind !== "conditioned") return null;
  const presets = style.presets || [];
  const preset = presets.find((p) => p.id === look.preset);
  const base = look.painting ? paintingLabel(look.painting.name) : preset?.name || look.preset;
  if (!base) return null;
  const second = look.mixWith ? presets.find((p) => p.id === look.mixWith)?.name || look.mixWith : null;
  return lookLabel(base, second, look.mix ?? 0);
}

/**
 * @param {File} painting
 * @returns {Promise<string | null>} a small JPEG of it as a data: URL; null if it cannot be decoded
 */
async function paintingThumbnail(painting) {
  const url = URL.createObjectURL(painting);
  const image = new Image();
  image.src = url;
  try {
    await image.decode();
    return thumbnail(image);
  } catch {
    return null;
  } finally {
    URL.revokeObjectURL(url);
  }
}
