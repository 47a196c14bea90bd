// The popup's two ends of R22, and the refresh lock of R26, in JS: the same code in Rust would
// be closures and MessageEvent bindings for a few lines. The only check made here is a message's
// origin and source; the Rust side parses every text it is handed and checks its flow's state
// (popup.rs).

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

// The vault (R33): secrets in IndexedDB, each encrypted with AES-GCM under one key that is
// itself kept in IndexedDB as a non-extractable CryptoKey (structured-cloneable, never exported).
const databases = new Map();
const SECRETS = "secrets";
const KEY = "aes-gcm-key";

const request = (r) => new Promise((ok, ko) => { r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });

/** A write's outcome once its transaction committed (a `put` can succeed, then its commit fail). */
const committed = (tx) => new Promise((ok, ko) => {
  tx.oncomplete = () => ok();
  tx.onabort = tx.onerror = () => ko(tx.error ?? new DOMException("the transaction did not commit", "AbortError"));
});

/** @param {string} name */
function database(name) {
  if (!databases.has(name)) {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(SECRETS);
    const opened = request(open).then(async (db) => {
      // another page deleting or upgrading the database, or the browser closing it (site data
      // cleared): let go of this connection, the next call opens a fresh one
      const forget = () => { db.close(); if (databases.get(name) === opened) databases.delete(name); };
      db.onversionchange = forget;
      db.onclose = forget;
      return { db, key: await theKey(db) };
    });
    databases.set(name, opened);
    opened.catch(() => databases.delete(name));
  }
  return databases.get(name);
}

/** The database's key: the one stored, or a new one stored at once (`add`: the first tab wins). */
async function theKey(db) {
  const store = (mode) => db.transaction(SECRETS, mode).objectStore(SECRETS);
  const kept = await request(store("readonly").get(KEY));
  if (kept) return kept;
  const made = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const tx = db.transaction(SECRETS, "readwrite");
  tx.objectStore(SECRETS).add(made, KEY);
  try { await committed(tx); return made; } catch { return request(store("readonly").get(KEY)); }
}

/** @param {string} db @param {string} name @returns {Promise<string | undefined>} */
export async function vaultGet(db, name) {
  const { db: d, key } = await database(db);
  const sealed = await request(d.transaction(SECRETS, "readonly").objectStore(SECRETS).get(name));
  if (!sealed) return undefined;
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: sealed.iv }, key, sealed.data);
  return new TextDecoder().decode(plain);
}

/** @param {string} db @param {string} name @param {string} value */
export async function vaultPut(db, name, value) {
  const { db: d, key } = await database(db);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new TextEncoder().encode(value));
  const tx = d.transaction(SECRETS, "readwrite");
  tx.objectStore(SECRETS).put({ iv, data }, name);
  await committed(tx);
}

/** @param {string} db @param {string} name */
export async function vaultDelete(db, name) {
  const { db: d } = await database(db);
  const tx = d.transaction(SECRETS, "readwrite");
  tx.objectStore(SECRETS).delete(name);
  await committed(tx);
}

/** A tab's own secrets (`session` storage): sealed with the database's key, kept in sessionStorage. */
const toBase64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** @param {string} db @param {string} name @returns {Promise<string | undefined>} */
export async function sealedGet(db, name) {
  const sealed = sessionStorage.getItem(name);
  if (sealed == null) return undefined;
  const { key } = await database(db);
  const bytes = fromBase64(sealed);
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.slice(0, 12) }, key, bytes.slice(12));
  return new TextDecoder().decode(plain);
}

/** @param {string} db @param {string} name @param {string} value */
export async function sealedPut(db, name, value) {
  const { key } = await database(db);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new TextEncoder().encode(value)));
  const bytes = new Uint8Array(12 + data.length);
  bytes.set(iv);
  bytes.set(data, 12);
  sessionStorage.setItem(name, toBase64(bytes));
}

// DPoP (R34): one ECDSA P-256 key pair per issuer, generated with a non-extractable private key
// and kept as a CryptoKeyPair (structured-cloneable) in the vault's database, read from there for
// every proof (another tab may have replaced it); `db` null: this page's memory only.
const pageKeys = new Map();

/** @param {string | undefined} db @param {string} name @returns {Promise<CryptoKeyPair>} */
async function dpopPair(db, name) {
  const make = () => crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  if (db == null) {
    if (!pageKeys.has(name)) pageKeys.set(name, make());
    return pageKeys.get(name);
  }
  const { db: d } = await database(db);
  const read = () => request(d.transaction(SECRETS, "readonly").objectStore(SECRETS).get(name));
  const kept = await read();
  if (kept?.privateKey) return kept;
  const made = await make();
  const tx = d.transaction(SECRETS, "readwrite");
  tx.objectStore(SECRETS).add(made, name); // `add`: when two tabs race, the first key wins
  try { await committed(tx); return made; } catch { return read(); }
}

/** This tab's id, kept in its sessionStorage (a reload keeps it; another tab has its own). */
export function tabId() {
  const key = "mcp-oauth-wasm:tab";
  let id = sessionStorage.getItem(key);
  if (!id) sessionStorage.setItem(key, (id = crypto.randomUUID()));
  return id;
}

/** The public key as JWK members, JSON. @param {string | undefined} db @param {string} name */
export async function dpopPublicKey(db, name) {
  const { publicKey } = await dpopPair(db, name);
  const { crv, kty, x, y } = await crypto.subtle.exportKey("jwk", publicKey);
  return JSON.stringify({ crv, kty, x, y });
}

/** ES256: the raw r || s signature. @param {string | undefined} db @param {string} name @param {Uint8Array} data */
export async function dpopSign(db, name, data) {
  const { privateKey } = await dpopPair(db, name);
  return new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, data));
}

/** @param {string | undefined} db @param {string} name */
export async function dpopDelete(db, name) {
  pageKeys.delete(name);
  if (db != null) await vaultDelete(db, name);
}
