// The MCP OAuth flow debugger: a card per MCP server, each with a live status, the actions an app
// offers (Connect, Cancel, Disconnect, Forget), its tools, and a timeline of every step of the flow
// with its HTTP exchange. It imports the package like any app would; plain modules, no build step.
import init, { McpAuth } from '/pkg/mcp_oauth_wasm.js';
import { explain } from './explain.js';
import { Timeline, createRecorder } from './inspector.js';
import { McpSession, exampleArguments } from './mcp.js';

const SAVED_KEY = 'mcp-oauth-demo:servers';
const REFRESH_SKEW_SECONDS = 15;
const $ = (selector, root = document) => root.querySelector(selector);

let auth;
let config = {};
const timeline = new Timeline();
/** serverUrl (as the library normalizes it) -> Card */
const cards = new Map();

const recorder = createRecorder(timeline, (url) => (cards.has(url) ? url : undefined));

// ---- small helpers ----------------------------------------------------------------------------

function mmss(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const clock = (at) => new Date(at).toLocaleTimeString(undefined, { hour12: false }) + `.${String(at % 1000).padStart(3, '0')}`;

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

const pretty = (value) => JSON.stringify(value, null, 2);

function savedServers() {
  try {
    const list = JSON.parse(localStorage.getItem(SAVED_KEY) ?? '[]');
    return Array.isArray(list) ? list.filter((u) => typeof u === 'string') : [];
  } catch {
    return [];
  }
}

function saveServers() {
  try {
    localStorage.setItem(SAVED_KEY, JSON.stringify([...cards.keys()]));
  } catch { /* the list is a convenience */ }
}

/** The error box: a sentence, the code and what the server said, and a hint. */
function errorView(err, serverUrl) {
  const e = explain(err, serverUrl);
  const meta = [`code ${e.code}`, e.status && `HTTP ${e.status}`, e.oauthError && `OAuth error ${e.oauthError}`].filter(Boolean).join(' · ');
  return [
    el('p', { className: 'sentence' }, el('strong', { textContent: e.sentence })),
    el('p', { className: 'meta', textContent: meta }),
    e.description && el('p', { className: 'description', textContent: `The server says: ${e.description}` }),
    e.message && e.message !== e.description && el('p', { className: 'message', textContent: e.message }),
    e.hint && el('p', { className: 'hint-line', textContent: e.hint }),
  ].filter(Boolean);
}

const STEP_NAMES = {
  probe: 'probe the MCP server',
  resource_metadata: 'protected-resource metadata (RFC 9728)',
  authorization_server_metadata: 'authorization-server metadata (RFC 8414)',
  registration: 'dynamic client registration (RFC 7591)',
  authorization: 'authorization request (PKCE S256)',
  popup_detached: 'popup detached',
  token: 'token request (authorization code)',
  refresh: 'token refresh',
  step_up: 'step-up',
  revocation: 'revocation (RFC 7009)',
};

// ---- a server's card ------------------------------------------------------------------------

class Card {
  constructor(serverUrl) {
    this.url = serverUrl;
    this.el = $('#card-template').content.firstElementChild.cloneNode(true);
    this.el.dataset.server = serverUrl;
    $('.server-url', this.el).textContent = serverUrl;
    this.info = null; // ServerInfo, once discovered
    this.pending = null; // the AbortController of an authorize in flight
    this.refreshingSince = 0;
    this.needsClientId = false;
    this.note = null; // 'disconnected' | 'forgotten' | 'unreachable'
    this.session = null; // McpSession
    this.tools = [];
    this.openEntries = new Set();

    const on = (sel, type, fn) => $(sel, this.el).addEventListener(type, fn);
    on('.connect', 'click', () => this.connect());
    on('.cancel', 'click', () => this.pending?.abort());
    on('.disconnect', 'click', () => this.disconnect());
    on('.forget', 'click', () => this.forget());
    on('.list-tools', 'click', () => this.listTools());
    on('.call-tool', 'click', () => this.callTool());
    on('.clear-timeline', 'click', () => timeline.clear(this.url));
    on('.client-form', 'submit', (e) => { e.preventDefault(); this.connect(); });
    if (config.preregistered?.mcpUrl === serverUrl) {
      $('.client-hint', this.el).textContent = `The local pre-registered-only server knows the client ID "${config.preregistered.clientId}" (public: no secret).`;
    }
  }

  status() {
    try {
      return auth.status(this.url);
    } catch {
      return null;
    }
  }

  /** Discovery (no user interaction): what the card can say before Connect. */
  async discover() {
    try {
      this.info = await auth.discover(this.url);
      this.note = null;
      this.needsClientId = this.info.registration === 'manual' && !this.status()?.clientId;
      if (this.info.challengeScope && !$('.scope', this.el).placeholder.includes(' ')) {
        $('.scope', this.el).placeholder = `as the server asks: ${this.info.challengeScope}`;
      }
      this.clearError();
    } catch (err) {
      if (err.code === 'network') this.note = 'unreachable';
      this.showError(err);
    }
    this.render();
  }

  connect() {
    this.clearError();
    const opts = { mode: $('.mode', this.el).value };
    const scope = $('.scope', this.el).value.trim();
    if (scope) opts.scope = scope;
    if (!$('.client-form', this.el).hidden) {
      const clientId = $('.client-id', this.el).value.trim();
      const clientSecret = $('.client-secret', this.el).value;
      if (clientId) opts.clientId = clientId;
      if (clientId && clientSecret) opts.clientSecret = clientSecret;
    }
    const controller = new AbortController();
    opts.signal = controller.signal;
    // No await before authorize(): it opens the popup inside this click (R21).
    let pending;
    try {
      pending = auth.authorize(this.url, opts);
    } catch (err) {
      this.showError(err);
      return;
    }
    this.pending = controller;
    this.note = null;
    this.render();
    pending.then(
      () => {
        this.needsClientId = false;
        this.session = null;
      },
      (err) => {
        if (err.code === 'client_registration_required') this.needsClientId = true;
        this.showError(err);
        timeline.add(this.url, { kind: 'error', code: err.code, message: err.message });
      },
    ).finally(() => {
      this.pending = null;
      this.render();
    });
  }

  async disconnect() {
    this.clearError();
    try {
      await auth.revoke(this.url);
      this.note = 'disconnected';
      this.session = null;
      this.renderTools([]);
    } catch (err) {
      this.showError(err);
    }
    this.render();
  }

  forget() {
    this.clearError();
    try {
      auth.forget(this.url);
      this.note = 'forgotten';
      this.info = null;
      this.needsClientId = false;
      this.session = null;
      this.renderTools([]);
      timeline.add(this.url, { kind: 'note', message: 'forgotten: nothing is kept here for this server any more' });
    } catch (err) {
      this.showError(err);
    }
    this.render();
  }

  mcp() {
    this.session ??= new McpSession(this.url, auth.fetchFor(this.url));
    return this.session;
  }

  async listTools() {
    this.clearError();
    try {
      this.renderTools(await this.mcp().listTools());
    } catch (err) {
      this.session = null;
      this.toolError(err);
    }
    this.render();
  }

  async callTool() {
    this.clearError();
    const name = $('.call-name', this.el).textContent;
    const out = $('.call-result', this.el);
    let args;
    try {
      args = JSON.parse($('.call-args', this.el).value || '{}');
    } catch (err) {
      out.textContent = `The arguments are not JSON: ${err.message}`;
      out.dataset.outcome = 'error';
      return;
    }
    out.textContent = 'calling...';
    out.dataset.outcome = 'pending';
    try {
      const result = await this.mcp().callTool(name, args);
      const texts = (result.content ?? []).map((c) => {
        if (c.type !== 'text') return pretty(c);
        try { return pretty(JSON.parse(c.text)); } catch { return c.text; }
      });
      out.textContent = `${result.isError ? 'tool error:\n' : ''}${texts.join('\n')}`;
      out.dataset.outcome = result.isError ? 'error' : 'ok';
    } catch (err) {
      this.session = null;
      out.textContent = '';
      out.dataset.outcome = 'error';
      this.toolError(err);
    }
    this.render();
  }

  toolError(err) {
    if (err.code === 'insufficient_scope' && err.scope) $('.scope', this.el).value = err.scope;
    this.showError(err);
  }

  renderTools(tools) {
    this.tools = tools;
    const list = $('.tool-list', this.el);
    list.replaceChildren(...tools.map((tool) => {
      const button = el('button', { type: 'button', className: 'tool', textContent: tool.name });
      button.dataset.tool = tool.name;
      button.addEventListener('click', () => {
        $('.call', this.el).hidden = false;
        $('.call-name', this.el).textContent = tool.name;
        $('.call-args', this.el).value = pretty(exampleArguments(tool.inputSchema));
        $('.call-result', this.el).textContent = '';
      });
      return el('li', {}, button, el('span', { className: 'hint', textContent: ` ${tool.description ?? ''}` }));
    }));
    if (!tools.length) $('.call', this.el).hidden = true;
  }

  showError(err) {
    const box = $('.error', this.el);
    box.replaceChildren(...errorView(err, this.url));
    box.dataset.code = err?.code ?? 'error';
    box.hidden = false;
  }

  clearError() {
    const box = $('.error', this.el);
    box.hidden = true;
    box.replaceChildren();
    delete box.dataset.code;
  }

  pill(s) {
    if (this.pending) return ['waiting', 'Waiting for sign-in…'];
    if (this.refreshingSince && Date.now() - this.refreshingSince < 35_000) return ['refreshing', 'Refreshing…'];
    const state = s?.state ?? 'unknown';
    if (state === 'authorized') {
      return ['authorized', s.expiresAt == null ? 'Authorized' : `Authorized · expires in ${mmss(s.expiresAt - Date.now())}`];
    }
    if (state === 'expired') return ['expired', s.refreshable ? 'Expired · refreshes on the next request' : 'Expired'];
    if (this.needsClientId) return ['client', 'Needs a client ID'];
    if (state === 'authorization_required') return ['required', 'Authorization required'];
    if (this.note === 'unreachable') return ['unreachable', 'Unreachable'];
    if (this.note === 'forgotten') return ['unknown', 'Forgotten · nothing kept'];
    if (this.info && !this.info.requiresAuth) return ['open', 'No authorization needed'];
    return ['unknown', 'Not connected'];
  }

  /** The status pill and facts (every second, for the countdown). */
  renderStatus() {
    const s = this.status();
    const [state, text] = this.pill(s);
    const pill = $('.pill', this.el);
    pill.dataset.state = state;
    if (pill.textContent !== text) pill.textContent = text;
    const registration = { dynamic: 'registered dynamically', preregistered: 'pre-registered', metadata_document: 'client ID metadata document', manual: 'a client ID registered by hand' }[this.info?.registration];
    $('.f-issuer', this.el).textContent = s?.issuer ?? this.info?.issuer ?? '-';
    $('.f-client', this.el).textContent = s?.clientId ? `${s.clientId}${registration ? ` (${registration})` : ''}` : (registration ? `(${registration})` : '-');
    $('.f-scope', this.el).textContent = s?.scope ?? '-';
    let expires = '-';
    if (s?.expiresAt != null) expires = `${new Date(s.expiresAt).toLocaleTimeString()}${s.refreshable ? ' · refresh token kept (encrypted)' : ' · no refresh token'}`;
    if (this.note === 'disconnected' && state === 'required') expires = 'disconnected: tokens revoked; registration kept';
    $('.f-expires', this.el).textContent = expires;
  }

  render() {
    this.renderStatus();
    const waiting = !!this.pending;
    $('.connect', this.el).disabled = waiting;
    $('.cancel', this.el).hidden = !waiting;
    $('.client-form', this.el).hidden = !this.needsClientId;
  }

  renderTimeline() {
    const entries = timeline.entries(this.url);
    $('.steps', this.el).replaceChildren(...entries.map((entry) => this.entryView(entry)));
  }

  entryView(entry) {
    const li = el('li', { className: `entry kind-${entry.kind}` });
    li.dataset.kind = entry.kind;
    if (entry.step) li.dataset.step = entry.step;
    const head = el('div', { className: 'entry-head' }, el('time', { textContent: clock(entry.at) }));
    const body = [];
    if (entry.kind === 'step') {
      head.append(el('span', { className: 'step-name', textContent: STEP_NAMES[entry.step] ?? entry.step }));
      const http = entry.http;
      if (http) {
        li.dataset.status = http.status ?? (http.failed ? 'failed' : 'pending');
        head.append(
          el('code', { className: 'request-line', textContent: `${http.method} ${http.url}` }),
          el('span', { className: `status s${String(http.status ?? 0)[0]}`, textContent: http.status ?? (http.failed ? 'failed' : '…') }),
          http.ms !== undefined && el('span', { className: 'ms', textContent: `${http.ms} ms` }),
        );
        const challenge = http.response?.headers?.['www-authenticate'];
        if (challenge) body.push(el('p', { className: 'challenge' }, el('b', { textContent: 'WWW-Authenticate: ' }), el('code', { textContent: challenge })));
        if (http.failed) body.push(el('p', { className: 'failed', textContent: `no response: ${http.failed}` }));
        body.push(this.detailsView(entry, http));
      } else if (entry.step === 'step_up') {
        body.push(el('p', { textContent: `the server asks for more scope: a new authorization for "${entry.detail}"` }));
      } else if (entry.step === 'authorization' && entry.authorization) {
        const { endpoint, params } = entry.authorization;
        const rows = Object.entries(params).map(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]).flat();
        body.push(
          el('p', {}, 'the popup (or page) opens ', el('code', { textContent: endpoint }), ' with:'),
          el('dl', { className: 'params' }, ...rows, el('dt', { textContent: 'code_verifier' }), el('dd', { textContent: '••••• (masked: kept in this page, sent only with the token request)' })),
        );
      } else if (entry.detail && entry.step !== 'probe') {
        body.push(el('p', { className: 'hint', textContent: entry.detail }));
      }
    } else if (entry.kind === 'status') {
      head.append(el('span', { className: 'step-name', textContent: `status → ${entry.state}` }),
        entry.expiresAt != null && el('span', { className: 'hint', textContent: `expires ${new Date(entry.expiresAt).toLocaleTimeString()}` }),
        entry.scope && el('span', { className: 'hint', textContent: `scope ${entry.scope}` }));
    } else if (entry.kind === 'warning') {
      head.append(el('span', { className: 'step-name', textContent: `warning ${entry.code}` }));
      body.push(el('p', { textContent: entry.message }));
    } else if (entry.kind === 'error') {
      head.append(el('span', { className: 'step-name', textContent: `error ${entry.code}` }));
      body.push(el('p', { textContent: entry.message }));
    } else {
      head.append(el('span', { className: 'step-name', textContent: entry.message }));
    }
    li.append(head, ...body);
    return li;
  }

  detailsView(entry, http) {
    const details = el('details', { open: this.openEntries.has(entry.id) });
    details.addEventListener('toggle', () => {
      if (details.open) this.openEntries.add(entry.id);
      else this.openEntries.delete(entry.id);
    });
    const section = (title, part) => {
      if (!part) return null;
      const blocks = [el('h4', { textContent: title }), el('pre', { className: 'headers', textContent: Object.entries(part.headers ?? {}).map(([k, v]) => `${k}: ${v}`).join('\n') || '(no headers readable)' })];
      const b = part.body;
      if (b) blocks.push(el('pre', { className: 'json', textContent: b.json !== undefined ? pretty(b.json) : b.form ? pretty(b.form) : b.events ? pretty(b.events) : b.text }));
      return el('div', {}, ...blocks);
    };
    const summaryText = http.response?.body?.json !== undefined ? 'request and response (JSON)' : 'request and response';
    details.append(el('summary', { textContent: summaryText }), section('request', http.request), section(`response${http.status ? ` ${http.status}` : ''}`, http.response));
    return details;
  }
}

// ---- the page ---------------------------------------------------------------------------------

function addCard(serverUrl, { discover = true } = {}) {
  let card = cards.get(serverUrl);
  if (!card) {
    card = new Card(serverUrl);
    cards.set(serverUrl, card);
    $('#servers').prepend(card.el);
    saveServers();
    card.render();
    card.renderTimeline();
  }
  if (discover) card.discover();
  return card;
}

function onAdd(event) {
  event.preventDefault();
  $('#add-error').textContent = '';
  const input = $('#server-url').value.trim();
  if (!URL.canParse(input)) {
    $('#add-error').textContent = 'That is not a valid URL: enter an absolute URL such as https://mcp.example.com/mcp.';
    return;
  }
  let serverUrl;
  try {
    serverUrl = auth.status(input).serverUrl; // the library's normalized form (R15)
  } catch (err) {
    const e = explain(err, input);
    $('#add-error').textContent = `${e.sentence} ${e.message}${e.hint ? ` ${e.hint}` : ''}`;
    return;
  }
  const card = addCard(serverUrl);
  card.el.scrollIntoView({ block: 'nearest' });
}

function presets() {
  const list = [];
  if (config.mcpUrl) list.push([config.mcpUrl, 'local MCP server (open registration)']);
  if (config.preregistered?.mcpUrl) list.push([config.preregistered.mcpUrl, `local pre-registered-only server (client ID ${config.preregistered.clientId})`]);
  if (!list.length) return;
  $('#presets').replaceChildren('Local stack: ', ...list.flatMap(([url, label], i) => {
    const button = el('button', { type: 'button', className: 'link', textContent: label });
    button.addEventListener('click', () => {
      $('#server-url').value = url;
      $('#add-form').requestSubmit();
    });
    return i ? [' · ', button] : [button];
  }));
}

function onEvent(event) {
  recorder.onEvent(event);
  const serverUrl = event.serverUrl ?? event.status?.serverUrl;
  const card = serverUrl && cards.get(serverUrl);
  if (!card && event.type === 'status') {
    addCard(serverUrl, { discover: false }); // a server another tab connected
    return;
  }
  if (!card) return;
  if (event.type === 'step' && event.step === 'refresh') card.refreshingSince = Date.now();
  if (event.type === 'status') card.refreshingSince = 0;
  card.render();
}

async function main() {
  config = await fetch('/config.json').then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
  const query = new URLSearchParams(location.search);
  $('#server-url').value = query.get('server') ?? config.mcpUrl ?? '';

  await init();
  auth = new McpAuth({
    redirectUri: `${location.origin}/callback.html`,
    clientName: 'MCP OAuth flow debugger',
    storage: query.get('storage') ?? undefined, // ?storage=local|session|memory
    refreshSkewSeconds: REFRESH_SKEW_SECONDS,
    fetch: recorder.fetch,
  });
  auth.subscribe(onEvent);
  timeline.onChange((serverUrl) => cards.get(serverUrl)?.renderTimeline());

  $('#add-form').addEventListener('submit', onAdd);
  $('#server-url').addEventListener('input', () => { $('#add-error').textContent = ''; });
  presets();

  // every server this page shows or the library has state for
  const known = new Set([...savedServers(), ...auth.list().map((s) => s.serverUrl)]);
  if (query.get('server')) {
    try { known.add(auth.status(query.get('server')).serverUrl); } catch { /* shown when added */ }
  }
  for (const url of known) {
    try {
      addCard(auth.status(url).serverUrl);
    } catch { /* a saved entry this version cannot read */ }
  }
  setInterval(() => { for (const card of cards.values()) card.renderStatus(); }, 1000);
  document.body.dataset.ready = 'true';
}

main().catch((err) => {
  const e = explain(err);
  $('#load-error').textContent = `${e.sentence} ${e.message}${auth ? '' : ' (is the package built? make pkg)'}`;
});
