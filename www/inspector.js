// What the debugger shows of a flow: the library's step events, and every HTTP exchange it makes,
// recorded through the `fetch` option (R10: the library sends every request through it). Secrets
// are masked before anything is kept: tokens, codes, verifiers, client secrets, Authorization.
//
// The timeline is kept per server in sessionStorage, so a full-page redirect (and the callback
// page, which makes the token request in redirect mode) adds to the same story.

const KEY_PREFIX = 'mcp-oauth-demo:timeline:';
const MAX_ENTRIES = 200;
const MAX_TEXT = 4000;

/** Members whose values are secrets, in JSON bodies, form bodies and URL parameters. */
const SECRET_KEYS = new Set([
  'access_token', 'refresh_token', 'id_token', 'code', 'code_verifier', 'client_secret',
  'registration_access_token', 'token', 'client_assertion', 'assertion', 'dpop',
]);

export const masked = (value) => `••••• (masked, ${String(value).length} chars)`;

/** A copy of a JSON value with every secret member masked. */
export function maskJson(value) {
  if (Array.isArray(value)) return value.map(maskJson);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.has(k.toLowerCase()) && typeof v === 'string' ? masked(v) : maskJson(v)]));
  }
  return value;
}

function maskHeaders(headers) {
  const out = {};
  for (const [name, value] of headers) {
    if (name === 'authorization') {
      const [scheme] = value.split(' ');
      out[name] = `${scheme} ${masked(value.slice(scheme.length + 1))}`;
    } else if (name === 'dpop' || name === 'cookie') {
      out[name] = masked(value);
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** A body for display: JSON (masked), a form (as an object, masked), SSE data, or clipped text. */
export function readableBody(text, contentType = '') {
  if (!text) return undefined;
  if (contentType.includes('application/x-www-form-urlencoded')) {
    return { form: maskJson(Object.fromEntries(new URLSearchParams(text))) };
  }
  if (contentType.includes('text/event-stream')) {
    const events = text.split(/\r?\n\r?\n/)
      .map((block) => block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n'))
      .filter(Boolean)
      .map((data) => { try { return maskJson(JSON.parse(data)); } catch { return data; } });
    return { events };
  }
  try {
    return { json: maskJson(JSON.parse(text)) };
  } catch {
    return { text: text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text };
  }
}

/** The authorization URL's parameters, for display (no secret is in it: the verifier stays in the page). */
export function authorizationParams(href) {
  try {
    const url = new URL(href);
    return { endpoint: `${url.origin}${url.pathname}`, params: Object.fromEntries(url.searchParams) };
  } catch {
    return { endpoint: href, params: {} };
  }
}

export class Timeline {
  constructor(storage = globalThis.sessionStorage) {
    this.storage = storage;
    this.listeners = new Set();
    this.nextId = Date.now();
  }

  key(serverUrl) {
    return KEY_PREFIX + serverUrl;
  }

  entries(serverUrl) {
    try {
      return JSON.parse(this.storage.getItem(this.key(serverUrl)) ?? '[]');
    } catch {
      return [];
    }
  }

  write(serverUrl, entries) {
    try {
      this.storage.setItem(this.key(serverUrl), JSON.stringify(entries.slice(-MAX_ENTRIES)));
    } catch { /* a full storage loses history, not the flow */ }
    for (const l of this.listeners) l(serverUrl);
  }

  add(serverUrl, entry) {
    const full = { id: ++this.nextId, at: Date.now(), ...entry };
    this.write(serverUrl, [...this.entries(serverUrl), full]);
    return full.id;
  }

  update(serverUrl, id, patch) {
    this.write(serverUrl, this.entries(serverUrl).map((e) => (e.id === id ? { ...e, ...patch } : e)));
  }

  clear(serverUrl) {
    this.storage.removeItem(this.key(serverUrl));
    for (const l of this.listeners) l(serverUrl);
  }

  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * The recorder: `fetch` for the library's `fetch` option, and `onEvent` for its `subscribe`.
 * A step event names the URL its request goes to; the request to that URL that follows is filed
 * under the step's server. Requests to a server URL that no step announced are the app's own MCP
 * traffic through `auth.fetch`.
 * @param {Timeline} timeline
 * @param {(url: string) => string | undefined} serverOf the card a request URL belongs to
 */
export function createRecorder(timeline, serverOf) {
  const announced = new Map(); // request URL -> { serverUrl, step, entryId, used }

  function onEvent(event) {
    if (event.type === 'step') {
      const entry = { kind: 'step', step: event.step, detail: event.detail };
      if (event.step === 'authorization') entry.authorization = authorizationParams(event.detail);
      const entryId = timeline.add(event.serverUrl, entry);
      if (/^https?:/.test(event.detail) && event.step !== 'authorization') {
        announced.set(event.detail, { serverUrl: event.serverUrl, step: event.step, entryId, used: false });
      }
    } else if (event.type === 'warning' && event.serverUrl) {
      timeline.add(event.serverUrl, { kind: 'warning', code: event.code, message: event.message });
    } else if (event.type === 'status') {
      const s = event.status;
      timeline.add(s.serverUrl, { kind: 'status', state: s.state, expiresAt: s.expiresAt, scope: s.scope });
    }
  }

  async function recordingFetch(input, init) {
    const request = new Request(input, init);
    const url = request.url;
    const bare = url.split('#')[0];
    const step = announced.get(bare);
    const serverUrl = step?.serverUrl ?? serverOf(bare);
    const requestType = request.headers.get('content-type') ?? '';
    const bodyText = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.clone().text().catch(() => '');
    let label = step && !(step.step === 'probe' && step.used) ? step.step : 'request';
    if (label === 'request' && requestType.includes('json')) {
      try { label = `mcp ${JSON.parse(bodyText).method ?? 'response'}`; } catch { /* not JSON-RPC */ }
    }
    const exchange = {
      method: request.method,
      url,
      request: { headers: maskHeaders(request.headers), body: readableBody(bodyText, requestType) },
    };
    let entryId;
    if (serverUrl) {
      // the first request after a step fills that step's entry; any further one (a revocation's
      // second token, a retry) gets its own
      if (step && !step.used) {
        step.used = true;
        entryId = step.entryId;
        timeline.update(serverUrl, entryId, { http: exchange });
      } else {
        entryId = timeline.add(serverUrl, { kind: 'step', step: label, http: exchange });
      }
    }
    const started = performance.now();
    let response;
    try {
      response = await fetch(request);
    } catch (err) {
      if (serverUrl) timeline.update(serverUrl, entryId, { http: { ...exchange, failed: String(err?.message ?? err), ms: Math.round(performance.now() - started) } });
      throw err;
    }
    const ms = Math.round(performance.now() - started);
    const headers = maskHeaders(response.headers);
    if (serverUrl) {
      timeline.update(serverUrl, entryId, { http: { ...exchange, status: response.status, ms, response: { headers } } });
      // the body is read from a copy, after the caller has its response
      response.clone().text().then((text) => {
        const body = readableBody(text, response.headers.get('content-type') ?? '');
        timeline.update(serverUrl, entryId, { http: { ...exchange, status: response.status, ms, response: { headers, body } } });
      }, () => {});
    }
    return response;
  }

  return { fetch: recordingFetch, onEvent };
}
