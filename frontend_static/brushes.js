/**
 * The brush scale's choices, named once: the control lists them (view.js), and a result's line, its
 * out-of-date note and its download name say its brush as the control names it.
 */

/**
 * @typedef {object} Brush one choice of the brush scale
 * @property {string} value the API's `scale`: "auto" or the working scale in (0, 1]
 * @property {string} name what the control calls it, e.g. "Finest"
 * @property {string} detail what it does, after the name in the control ("" for none)
 * @property {string} file its word in a download name ("" for the default, which goes unsaid)
 */

/** @type {Brush[]} the control's choices, the default first */
export const BRUSHES = [
  { value: "auto", name: "Auto", detail: "large photos at 1024 px, enlarged", file: "" },
  { value: "1", name: "Finest", detail: "painted at full size", file: "brush-finest" },
  strokes(2),
  strokes(4),
  strokes(8),
];

/**
 * @param {string | undefined} scale a brush scale: "auto" or a working scale in (0, 1]
 * @returns {Brush} its choice; a scale the control does not list (kept by an older page) is named as its
 *   strokes' size, and none (a result kept before its brush was recorded) as the default
 */
export function brushOf(scale) {
  const listed = BRUSHES.find((brush) => brush.value === scale);
  if (listed) return listed;
  const value = Number(scale);
  // A result kept before its brush was recorded (no scale) was painted at the default.
  return value > 0 && value <= 1 ? strokes(Number((1 / value).toFixed(2))) : BRUSHES[0];
}

/**
 * @param {Brush} brush
 * @returns {string} the control's words for it, e.g. "Finest: painted at full size", "Strokes 2× larger"
 */
export function brushChoice(brush) {
  return brush.detail ? `${brush.name}: ${brush.detail}` : brush.name;
}

/**
 * @param {number} times how many times larger than at full size
 * @returns {Brush} e.g. "Strokes 2× larger" for 2 (scale 0.5)
 */
function strokes(times) {
  return { value: String(1 / times), name: `Strokes ${times}× larger`, detail: "", file: `brush-${times}x` };
}
