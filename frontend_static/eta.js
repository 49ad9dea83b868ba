/**
 * Time left for a job from its measured throughput: tiles done per second since the first tile was
 * seen done, so queueing and upload do not count. Pure: the caller passes the clock.
 */

// Below this much measured work an estimate says more about noise than about the job.
const MIN_SECONDS = 1.5;
const MIN_TILES = 2;

export class Eta {
  constructor() {
    /** @type {{done: number, at: number} | null} */
    this.first = null;
  }

  /**
   * @param {number} done tiles done
   * @param {number} total tiles in all
   * @param {number} now seconds (any origin, e.g. performance.now() / 1000)
   * @returns {number | null} seconds left, or null while there is too little to measure
   */
  update(done, total, now) {
    if (total <= 0 || done <= 0) return null;
    if (!this.first) this.first = { done, at: now };
    const tiles = done - this.first.done;
    const seconds = now - this.first.at;
    if (tiles < MIN_TILES || seconds < MIN_SECONDS) return null;
    return ((total - done) * seconds) / tiles;
  }
}
