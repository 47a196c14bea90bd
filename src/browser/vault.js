// The vault (R33, vault.rs) and, in the same IndexedDB database, the DPoP keys (R34): one file,
// since a wasm-bindgen snippet cannot import another.

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
