// The popup's two ends of R22, in JS: the same code in Rust costs the package more in wasm
// (closures, MessageEvent bindings) than these lines cost as a snippet. The only check made
// here is a message's origin and source; the Rust side parses every text it is handed and
// checks its flow's state (popup.rs).

/**
 * Collects the flow's result text in the opener: `postMessage` from the popup at the page's
 * exact origin, and the flow's `BroadcastChannel`. `take()` hands over the texts one by one,
 * oldest first; `stop()` removes the listener and closes the channel.
 * @param {Window} popup
 * @param {string} channel
 */
export function watchResult(popup, channel) {
  const texts = [];
  const keep = (d) => { if (typeof d == "string") texts.push(d); };
  const onMessage = (e) => { if (e.origin == location.origin && e.source == popup) keep(e.data); };
  addEventListener("message", onMessage);
  let bc;
  try {
    bc = new BroadcastChannel(channel);
    bc.onmessage = (e) => keep(e.data);
  } catch {}
  return {
    take: () => texts.shift(),
    stop() { removeEventListener("message", onMessage); bc?.close(); },
  };
}

/**
 * Sends the result text from the popup to its opener, on the flow's `BroadcastChannel` and by
 * `postMessage` at the page's exact origin, then closes the popup.
 * @param {string} channel
 * @param {string} text
 */
export function notifyOpener(channel, text) {
  try {
    const bc = new BroadcastChannel(channel);
    bc.postMessage(text);
    bc.close();
  } catch {}
  try { opener?.postMessage(text, location.origin); } catch {}
  close();
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Each lock name's queue in this page, where Web Locks are missing (an insecure context). */
const queues = new Map();

/**
 * Takes the Web Lock `name`, shared by every tab of the origin and every caller in the page
 * (R26), and resolves with the function that releases it; rejects when the lock is not free
 * within `timeoutMs` (an orphaned lock never hangs a call). Without Web Locks, the callers of
 * this page queue for it one after another.
 * @param {string} name
 * @param {number} timeoutMs
 * @returns {Promise<() => void>}
 */
export function acquireLock(name, timeoutMs) {
  const locks = globalThis.navigator?.locks;
  if (locks) {
    return new Promise((resolve, reject) => {
      const held = () => new Promise((release) => resolve(release));
      locks.request(name, { signal: AbortSignal.timeout(timeoutMs) }, held).catch(reject);
    });
  }
  const before = queues.get(name) ?? Promise.resolve();
  let release;
  const mine = new Promise((r) => (release = r));
  queues.set(name, before.then(() => mine));
  return before.then(() => release);
}
