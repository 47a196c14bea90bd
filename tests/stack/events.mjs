// In-memory record of what the stack saw, for test assertions.
// Served as JSON at GET /__test/events on the authorization server and returned by startStack().

export function createEvents() {
  const data = {
    registrations: [], // { at, client_id, client_name, redirect_uris, token_endpoint_auth_method, grant_types, application_type, scope }
    authorizations: [], // { at, client_id, resource, scope, code_challenge_method } (accepted authorization requests)
    tokens: [], // { at, client_id, grant_type, resource (request param), scope } (successful token endpoint calls)
    accessTokens: [], // { at, client_id, aud, scope, format, grantId }
    refreshTokens: [], // { at, event: "saved" | "consumed" | "destroyed", client_id, grantId, resource, scope }
    revocations: [], // { at, client_id, token_type_hint, kind, status }
    grantsRevoked: [], // { at, grantId }
    errors: [], // { at, where, error, error_description }
    mcpRequests: [], // { at, method, path, hadAuthorization, status, rpcMethods, error }
  };
  const listeners = new Set();
  const events = {
    push(kind, entry) {
      const record = { at: Date.now(), ...entry };
      data[kind].push(record);
      for (const l of listeners) {
        try { l(kind, record); } catch { /* ignore listener errors */ }
      }
      return record;
    },
    /** Every recorded list, as a plain JSON-able object. */
    snapshot() {
      return JSON.parse(JSON.stringify(data));
    },
    clear() {
      for (const list of Object.values(data)) list.length = 0;
    },
    /** listener(kind, record) for every new record; returns an unsubscribe function. */
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /**
     * Resolve with the first record of `kind` matching `predicate` (already recorded or future).
     * Rejects after `timeoutMs`.
     */
    waitFor(kind, predicate = () => true, timeoutMs = 10_000) {
      const found = data[kind].find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          unsubscribe();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for a ${kind} event`));
        }, timeoutMs);
        const unsubscribe = events.subscribe((k, record) => {
          if (k === kind && predicate(record)) {
            clearTimeout(timer);
            unsubscribe();
            resolve(record);
          }
        });
      });
    },
  };
  // the lists are the live arrays
  for (const [k, v] of Object.entries(data)) events[k] = v;
  return events;
}
