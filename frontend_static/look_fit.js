/**
 * Which look a conditioned style paints with when the person switches to it. Styles differ in what they
 * take (bff/look_form.py check_look_fits): some take the person's painting, some only their own presets,
 * each has its own preset ids. A look is kept per style, and one carried to another style keeps only
 * what that style takes, so the page never sends a painting or a preset id a style refuses.
 */

/** @typedef {import("./template.js").Style} Style */

/**
 * @typedef {object} StyleLook what the controls hold for one conditioned style
 * @property {string | null} preset one of its preset ids (null: it has none)
 * @property {File | null} painting the person's painting, only for a style that takes one
 * @property {string | null} paintingUrl that painting's object URL
 * @property {string} mixWith a second preset of it to mix in ("" for none)
 * @property {number} mix share of the second preset, 0 to 1
 */

/**
 * @param {StyleLook} look
 * @returns {StyleLook} its fields alone (the page's look also holds keep-colours, which every style takes)
 */
export function styleLook({ preset, painting, paintingUrl, mixWith, mix }) {
  return { preset, painting, paintingUrl, mixWith, mix };
}

/**
 * The look `wanted` made to fit a conditioned style: a preset the style has (else its first), the
 * painting only where the style takes paintings, and a mix only with a preset of the style.
 * @param {Style} style
 * @param {StyleLook} wanted the look kept for this style, or the one carried from the style before
 * @returns {StyleLook}
 */
export function fitLook(style, wanted) {
  const ids = (style.presets || []).map((p) => p.id);
  const painting = style.accepts_style_images ? wanted.painting : null;
  const preset = wanted.preset !== null && ids.includes(wanted.preset) ? wanted.preset : ids[0] ?? null;
  const mixWith = ids.includes(wanted.mixWith) && (painting || preset) ? wanted.mixWith : "";
  return { preset, painting, paintingUrl: painting ? wanted.paintingUrl : null, mixWith, mix: wanted.mix };
}
