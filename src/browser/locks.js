// The refresh lock of R26 (locks.rs): a Web Lock per server, and the page's own queue of callers
// in front of it, so that the page takes the Web Lock once for a run of its callers.

/**
 * Takes the lock `name`, shared by every tab of the origin and every caller in the page (R26),
 * and resolves with the function that releases it; rejects when the lock is not free within
 * `timeoutMs` (an orphaned lock never hangs a call). The page's callers queue here, and the Web
 * Lock is taken once for a run of them: a release hands it to the next caller of the page at
 * once, and it goes back to the other tabs when the page has no one waiting. Without Web Locks
 * (an insecure context) the page's callers still queue, with the same bound.
 * @param {string} name
 * @param {number} timeoutMs
 * @returns {Promise<() => void>}
 */
export function acquireLock(name, timeoutMs) {
  let line = lines.get(name);
  if (!line) lines.set(name, (line = { waiting: [], held: false, web: null, asking: false }));
  return new Promise((resolve, reject) => {
    const waiter = { resolve, reject };
    waiter.timer = setTimeout(() => {
      // a waiter that gave up leaves the line at once
      line.waiting = line.waiting.filter((w) => w !== waiter);
      reject(new DOMException("lock wait timed out", "TimeoutError"));
      settle(name, line);
    }, timeoutMs);
    line.waiting.push(waiter);
    settle(name, line, timeoutMs);
  });
}

/** Each lock name's line in this page: its waiters, whether one of them holds it, and the Web
 *  Lock's release while the page holds that. */
const lines = new Map();

function settle(name, line, timeoutMs = 10000) {
  if (line.held) return;
  if (!line.waiting.length) {
    // no one in the page wants it: back to the other tabs
    if (line.web) { line.web(); line.web = null; }
    if (!line.asking) lines.delete(name);
    return;
  }
  const locks = globalThis.navigator?.locks;
  if (locks && !line.web) {
    if (line.asking) return;
    line.asking = true;
    locks.request(name, { signal: AbortSignal.timeout(timeoutMs) }, () => new Promise((release) => {
      line.asking = false;
      line.web = release;
      settle(name, line);
    })).catch((err) => {
      line.asking = false;
      if (err?.name !== "AbortError" && err?.name !== "TimeoutError") {
        // refused outright (an opaque origin, a document no longer active): every waiter is
        // told at once, never asked again in a loop
        for (const w of line.waiting.splice(0)) { clearTimeout(w.timer); w.reject(err); }
      }
      settle(name, line);
    });
    return;
  }
  const next = line.waiting.shift();
  clearTimeout(next.timer);
  line.held = true;
  let released = false;
  next.resolve(() => {
    if (released) return;
    released = true;
    line.held = false;
    settle(name, line);
  });
}
