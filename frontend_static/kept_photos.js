/**
 * The photos this visit has uploaded (POST /api/photos) and the gateway still keeps, by their content:
 * the same file chosen again (an example photo clicked twice, a photo picked again) reuses its upload,
 * and one that nothing on the page needs any more is deleted (DELETE /api/photos/<id>), so that the
 * gateway's per-address cap is never spent on photos the person has left. The list is kept with the
 * visit (store.js), so that a reload still knows them. Which photos the page needs is app.js's to say.
 */

import { ApiError, deletePhoto, fetchPhoto, uploadPhoto } from "./api.js";
import { followsThisTab, loadVisit, saveUploads } from "./store.js";

/** @typedef {import("./store.js").SavedPhoto} SavedPhoto */

// A content key that is a digest (photo_names.photoKey: 32 hex digits of its SHA-256); without
// crypto.subtle (a page served over plain http from another machine) the key is name:size, which two
// different photos can share, so such a photo is never reused by it.
const DIGEST_KEY = /^[0-9a-f]{32}$/;

export class KeptPhotos {
  constructor() {
    const visit = loadVisit();
    /** @type {SavedPhoto[]} oldest first */
    this.photos = visit.uploads ?? (visit.photo ? [visit.photo] : []);
    /** @type {Set<string>} the ids this tab uploaded or reused: the only ones it ever deletes. A list
     * copied into a duplicated tab is the other tab's too, so there they are left to expire. */
    this.mine = new Set(followsThisTab() ? this.photos.map((p) => p.id) : []);
    /** @type {Set<string>} ids a reuse() is asking the gateway about: not deleted meanwhile */
    this.reusing = new Set();
  }

  /**
   * The upload of a photo of this content, if the gateway still keeps it: asked of the gateway, so a
   * photo it has forgotten is uploaded again rather than named by a dead id.
   * @param {string} key the photo's content key (photo_names.photoKey)
   * @param {number} [now] ms since the epoch
   * @returns {Promise<SavedPhoto | null>} null when there is none to reuse
   */
  async reuse(key, now = Date.now()) {
    if (!DIGEST_KEY.test(key)) return null;
    const kept = this.photos.find((p) => p.key === key && (p.expiresAt === null || p.expiresAt > now));
    if (!kept) return null;
    this.reusing.add(kept.id);
    try {
      const photo = { ...kept, ...(await fetchPhoto(kept.id)) };
      this.mine.add(photo.id);
      return photo;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.forget(kept.id);
      return null;
    } finally {
      this.reusing.delete(kept.id);
    }
  }

  /**
   * Uploads a photo and lists it at once (so that one replaced while it went up is let go of by its id).
   * When the gateway keeps as many of this address's photos as it may, lets go of every kept photo but
   * the `held` ones (a result over a photo let go of is shown alone) and sends it once more.
   * @param {File} file
   * @param {{name: string, key: string}} named its file name and content key
   * @param {() => Set<string>} held the ids the page cannot do without now
   * @param {(sent: number, total: number) => void} onUpload
   * @returns {Promise<SavedPhoto>} rejects with the gateway's ApiError
   */
  async upload(file, named, held, onUpload) {
    let photo;
    try {
      photo = await uploadPhoto(file, onUpload);
    } catch (error) {
      if (!isNoRoom(error) || !(await this.release(held()))) throw error;
      photo = await uploadPhoto(file, onUpload);
    }
    const saved = { ...photo, ...named };
    this.add(saved);
    return saved;
  }

  /** @param {SavedPhoto} photo a photo just uploaded (or reused: its name may be new) */
  add(photo) {
    this.mine.add(photo.id);
    this.photos = [...this.photos.filter((p) => p.id !== photo.id), photo];
    saveUploads(this.photos);
  }

  /**
   * Deletes every photo this tab uploaded or reused (this page load, or the one it reloads) but the `held`
   * ones and one a reuse() is asking about. One the gateway could not be asked about stays listed, to be deleted next time (else it expires
   * by itself).
   * @param {Set<string>} held the ids the page still needs
   * @returns {Promise<number>} how many were deleted
   */
  async release(held) {
    const spare = this.photos.filter((p) => this.mine.has(p.id) && !held.has(p.id) && !this.reusing.has(p.id));
    const deleted = await Promise.all(spare.map(async (photo) => {
      try {
        await deletePhoto(photo.id);
      } catch {
        return false;
      }
      this.forget(photo.id);
      return true;
    }));
    return deleted.filter(Boolean).length;
  }

  /** @param {string} id a photo the gateway no longer keeps */
  forget(id) {
    this.photos = this.photos.filter((p) => p.id !== id);
    saveUploads(this.photos);
  }
}

/**
 * @param {unknown} error
 * @returns {boolean} whether the gateway refused an upload because this address keeps as many photos
 *   as it may (429 too_many_photos)
 */
export function isNoRoom(error) {
  return error instanceof ApiError && error.status === 429 && error.code === "too_many_photos";
}

/**
 * What the page says when the gateway still has no room for a photo after the page let go of the photos
 * this page load uploaded and no longer needs: the others are held elsewhere (other tabs, other devices
 * behind the same address, this tab before a reload), so what the person can do here is wait for one to
 * expire, then press Restyle again.
 * @param {{photos?: {max_per_client?: number, ttl_s?: number}} | null} limits GET /api/limits
 * @returns {string}
 */
export function noRoomMessage(limits) {
  const most = limits?.photos?.max_per_client;
  const ttl = limits?.photos?.ttl_s;
  const held = most ? `as many photos as it allows from your address (${most})` : "as many photos as it allows from your address";
  const minutes = ttl ? ` (it keeps each for ${Math.round(ttl / 60)} minutes)` : "";
  return `The gateway already keeps ${held}, for other tabs, devices on your network or this page before ` +
    `a reload. Press \u201cRestyle photo\u201d to try again once one of them expires${minutes}.`;
}
