// In-memory record of what the stack saw, for test assertions.
// Served as JSON at GET /__test/events on the authorization server and returned by startStack().

export function createEvents() {
  const data = {
    // authorization server (oidc-provider events)
    registrations: [], // { client_id, client_name, redirect_uris, grant_types, response_types, token_endpoint_auth_method, application_type, scope }
    authorizations: [], // accepted authorization requests: { client_id, redirect_uri, resource, scope, code_challenge_method, has_state }
    tokens: [], // successful token endpoint calls: { client_id, grant_type, resource, requested_scope, scope, token_type,
    //             expires_in, refresh_token_issued, access_token_sha256, refresh_token_sha256 } (values never recorded)
    accessTokens: [], // { client_id, grantId, scope, aud, format: "jwt" | "opaque" }
    refreshTokens: [], // { event: "saved" | "consumed" | "destroyed", client_id, grantId, scope, resource }
    revocations: [], // revocation endpoint calls: { client_id, token_type_hint, kind, status, error }
    grantsRevoked: [], // { grantId }
    errors: [], // { where: "<oidc-provider event>", error, error_description }
    // MCP server
    mcpRequests: [], // { method, path, hadAuthorization, protocolVersion, rpcMethods, status, error?, client_id?, aud?, scheme? }
    // both servers, every exchange (preflights included): { server: "as" | "mcp", method, path, start, end }
    http: [],
  };
  // every record also has `at` (ms since epoch)
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
