/**
 * Keeps the focused control where the person sees it while the page changes above it.
 *
 * Chromium's scroll anchoring keeps visible content in place when content above it changes, but it
 * anchors to the focused element only when that is editable: on a phone a batch's result, listed at
 * the top of "Your results", moved a focused Compare checkbox 178 px down the window. So while a
 * control in sight has the focus, every change of the page's sections' sizes (a ResizeObserver, which
 * runs after layout and before paint) is followed by a scroll that puts the control back at its
 * place in the window. That place is the window's, not the page's: in the same layout the browser
 * may have scrolled on its own (anchoring to a part that moved, or held at the page's end while the
 * page was shorter for a moment), and only the window place undoes those too. The scrolls the page
 * hears of before a resize (the stage revealed, the person scrolling) are left alone: they set the
 * place anew. But the event of a scroll made here (or by the browser in that layout) comes a frame
 * later, when the next result may already be listed: it finds the window where the place was taken
 * and sets nothing, for measuring then took that result's shift for the place (results listed one
 * right after another left the control a result lower each time). A control out of sight, or none
 * focused, is left to the browser's own anchoring.
 */

/**
 * @param {Element[]} sections the page's parts whose size changes may move the focused control
 * @returns {ResizeObserver} watching them (disconnect() stops it)
 */
export function anchorFocus(sections) {
  /** @type {{element: Element, top: number, scrollY: number} | null} where the focused control sits in
   * the window, and the window's scroll then */
  let anchor = null;
  const place = () => {
    const focused = document.activeElement;
    if (!focused || focused === document.body || !inSight(focused)) return null;
    return { element: focused, top: focused.getBoundingClientRect().top, scrollY: window.scrollY };
  };
  const keep = () => {
    const kept = anchor && anchor.element === document.activeElement && anchor.element.isConnected ? anchor : null;
    if (kept) {
      const moved = kept.element.getBoundingClientRect().top - kept.top;
      if (Math.abs(moved) >= 1 && inPage(kept.element)) window.scrollBy({ top: moved, behavior: "instant" });
    }
    anchor = place();
    // The window scrolls by whole device pixels: the place stays the one asked for, or a fraction of a
    // pixel lost at each result listed would add up over a long batch.
    if (kept && anchor?.element === kept.element && Math.abs(anchor.top - kept.top) < 1) anchor.top = kept.top;
  };
  const observer = new ResizeObserver(keep);
  sections.forEach((section) => observer.observe(section));
  document.addEventListener("focusin", () => { anchor = place(); });
  window.addEventListener("scroll", () => {
    if (anchor?.scrollY !== window.scrollY) anchor = place();
  }, { passive: true });
  return observer;
}

/** @param {Element} element */
function inSight(element) {
  const box = element.getBoundingClientRect();
  return box.height > 0 && box.bottom > 0 && box.top < window.innerHeight;
}

/** @param {Element} element still laid out (not hidden since) */
function inPage(element) {
  return element.getBoundingClientRect().height > 0;
}
