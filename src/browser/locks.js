// The cross-tab half of the refresh lock of R26 (locks.rs): a Web Lock request. The page's own
// line of callers in front of it is Rust's (flow::page_locks).

/**
 * Asks for the Web Lock `name`: resolves with the function that releases it once granted, or
 * rejects (`TimeoutError` past `timeoutMs`, another error when refused outright); `null`
 * without Web Locks (an insecure context).
 * @param {string} name
 * @param {number} timeoutMs
 * @returns {Promise<() => void> | null}
 */
export function requestLock(name, timeoutMs) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return null;
  return new Promise((resolve, reject) => {
    locks
      .request(name, { signal: AbortSignal.timeout(timeoutMs) }, () => new Promise((release) => resolve(release)))
      .catch(reject);
  });
}

/** A request given up: the lock, should it still be granted, is released at once. */
export function releaseWhenGranted(request) {
  request.then((release) => release(), () => {});
}
