/**
 * Whether the person has gone elsewhere on the page since a moment (Restyle pressed): scrolled it with a
 * wheel, a finger or the keys, pressed a pointer anywhere (a scrollbar dragged, text selected past the
 * window's edge), or moved the keyboard focus. A photo's or clip's result that comes after
 * that leaves the page where they are, instead of scrolling the stage into view; the announcement says
 * it is ready either way. The page's own scrolling (the glide to the stage that Restyle starts) is no
 * input, so it does not count.
 */

/** Keys that scroll the page or move the focus. */
const MOVING_KEYS = new Set(["PageUp", "PageDown", "Home", "End", "ArrowUp", "ArrowDown", " ", "Tab"]);
const INPUTS = /** @type {const} */ (["wheel", "touchmove", "focusin", "pointerdown"]);

/**
 * Starts watching; the returned `moved()` says whether the person has moved on since, and `stop()`
 * ends the watch (call it when the result has come or the restyle ended).
 * @param {EventTarget} [target] where the person's input is heard (the window)
 * @returns {{ moved: () => boolean, stop: () => void }}
 */
export function watchMovedOn(target = window) {
  let moved = false;
  const mark = () => { moved = true; };
  const key = (/** @type {Event} */ event) => {
    if (MOVING_KEYS.has(/** @type {KeyboardEvent} */ (event).key)) moved = true;
  };
  for (const type of INPUTS) target.addEventListener(type, mark, { passive: true, capture: true });
  target.addEventListener("keydown", key, { capture: true });
  return {
    moved: () => moved,
    stop() {
      for (const type of INPUTS) target.removeEventListener(type, mark, { capture: true });
      target.removeEventListener("keydown", key, { capture: true });
    },
  };
}
