/**
 * Tiny DOM helpers shared by the view.
 */

/**
 * The element with this id; throws at start-up rather than failing later if the page changed.
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`index.html has no element #${id}`);
  return element;
}

/**
 * addEventListener with a shorter name.
 * @param {EventTarget} target
 * @param {string} type
 * @param {(event: any) => void} handler
 * @param {AddEventListenerOptions} [options]
 */
export function on(target, type, handler, options) {
  target.addEventListener(type, handler, options);
}

/**
 * Shows or hides every element given.
 * @param {boolean} visible
 * @param {...HTMLElement} elements
 */
export function show(visible, ...elements) {
  for (const element of elements) element.hidden = !visible;
}
