// The popup's two ends of R22 in JS: the same code in Rust would be closures and MessageEvent
// bindings for a few lines. The only check made here is a message's origin and source; the Rust
// side parses every text it is handed and checks its flow's state (popup.rs).

/**
 * Collects the flow's callback texts in the opener: `postMessage` from the popup at the page's
 * exact origin, and the flow's `BroadcastChannel`. `take()` hands over the texts one by one,
 * oldest first; `ack()` tells the popup its parameters were taken; `stop()` removes the listener
 * and closes the channel.
 * @param {Window} popup
 * @param {string} channel
 */
export function watchResult(popup, channel) {
  const texts = [];
  let wake = null;
  const keep = (d) => { if (typeof d == "string") { texts.push(d); wake?.(); } };
  const onMessage = (e) => { if (e.origin == location.origin && e.source == popup) keep(e.data); };
  addEventListener("message", onMessage);
  let bc;
  try {
    bc = new BroadcastChannel(channel);
    bc.onmessage = (e) => keep(e.data);
  } catch {}
  return {
    take: () => texts.shift(),
    ack(state, serverUrl) {
      bc?.postMessage(TAKEN + state + " " + serverUrl);
      try { popup.postMessage(TAKEN + state + " " + serverUrl, location.origin); } catch {}
    },
    stop() { removeEventListener("message", onMessage); bc?.close(); wake?.(); },
    /** Resolves when a message arrives, or after `ms`. */
    next: (ms) => new Promise((resolve) => {
      const timer = setTimeout(() => { wake = null; resolve(); }, ms);
      wake = () => { clearTimeout(timer); wake = null; resolve(); };
    }),
  };
}

const TAKEN = "mcp-oauth-wasm:taken:";
const DONE = "mcp-oauth-wasm:done:";

/**
 * The opener's last word to the popup once the flow `state` is finished: `outcome` (the JSON of
 * its status or error), on the flow's channel and by `postMessage` at the page's own origin.
 * @param {Window} popup
 * @param {string} channel
 * @param {string} state
 * @param {string} outcome
 */
export function announce(popup, channel, state, outcome) {
  const text = DONE + state + " " + outcome;
  try { const bc = new BroadcastChannel(channel); bc.postMessage(text); bc.close(); } catch {}
  try { if (!popup.closed) popup.postMessage(text, location.origin); } catch {}
}

/**
 * The popup's end: sends the callback text to the opener on the flow's `BroadcastChannel` and
 * by `postMessage` at the page's exact origin, then waits for the opener to say it took the
 * flow `state`'s parameters (with the flow's server URL), and then, for up to `doneMs`, for
 * the flow's outcome. Resolves `null` when nobody took them within `timeoutMs` (no opener
 * waits for this flow), else `{ serverUrl, outcome? }`.
 * @param {string} channel
 * @param {string} text
 * @param {string} state
 * @param {number} timeoutMs
 * @param {number} doneMs
 * @returns {Promise<{ serverUrl: string, outcome?: string } | null>}
 */
export function handOver(channel, text, state, timeoutMs, doneMs) {
  return new Promise((resolve) => {
    let bc;
    let serverUrl = null;
    const done = (v) => {
      clearTimeout(timer);
      removeEventListener("message", onMessage);
      bc?.close();
      resolve(v);
    };
    const seen = (d) => {
      if (typeof d != "string") return;
      if (serverUrl == null && d.startsWith(TAKEN + state + " ")) {
        serverUrl = d.slice(TAKEN.length + state.length + 1);
        clearTimeout(timer);
        timer = setTimeout(() => done({ serverUrl }), doneMs);
      } else if (serverUrl != null && d.startsWith(DONE + state + " ")) {
        done({ serverUrl, outcome: d.slice(DONE.length + state.length + 1) });
      }
    };
    const onMessage = (e) => { if (e.origin == location.origin) seen(e.data); };
    let timer = setTimeout(() => done(null), timeoutMs);
    addEventListener("message", onMessage);
    try {
      bc = new BroadcastChannel(channel);
      bc.onmessage = (e) => seen(e.data);
      bc.postMessage(text);
    } catch {}
    try { opener?.postMessage(text, location.origin); } catch {}
  });
}

/** R28: whether the page still has transient user activation (a click just happened). */
export const userActivation = () => !!globalThis.navigator?.userActivation?.isActive;

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
