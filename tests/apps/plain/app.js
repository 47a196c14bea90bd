// The plain ES module app: connect to an MCP server (OAuth in a popup), then list its tools
// through auth.fetch. No build step. The end-to-end tests drive it (tests/e2e/).
import init, { McpAuth } from '/pkg/mcp_oauth_wasm.js';

const $ = (selector) => document.querySelector(selector);
const PROTOCOL_VERSION = '2025-06-18';

function log(text, isError = false) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  if (isError) li.className = 'err';
  $('#log').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

function showError(err) {
  if (!err) {
    $('#error').textContent = '';
    return;
  }
  const text = `${err.code ?? err.name ?? 'error'}: ${err.message ?? err}`;
  $('#error').textContent = text;
  log(text, true);
}

const serverUrl = () => $('#server-url').value.trim();

function renderStatus(status) {
  $('#status').dataset.state = status.state;
  $('#status-state').textContent = status.state;
  $('#status-expires').textContent = status.expiresAt == null ? '-' : new Date(status.expiresAt).toLocaleString();
  $('#status-refreshable').textContent = String(status.refreshable);
  $('#status-scope').textContent = status.scope ?? '-';
  $('#status-issuer').textContent = status.issuer ?? '-';
  $('#status-client-id').textContent = status.clientId ?? '-';
}

let auth;
function refreshStatus() {
  try {
    renderStatus(auth.status(serverUrl()));
  } catch (err) {
    showError(err);
  }
}

// ---- MCP over Streamable HTTP, through auth.fetch -------------------------------------------

let rpcId = 0;

/** Find the JSON-RPC response with `id` in an SSE body (the `data:` lines of each event). */
function parseEventStream(text, id) {
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block.split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''))
      .join('\n');
    if (!data) continue;
    const message = JSON.parse(data);
    if (message.id === id) return message;
  }
  throw new Error('the event stream ended without a response');
}

async function mcpPost(url, message, session) {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  if (session.id) headers['mcp-session-id'] = session.id;
  if (session.protocolVersion) headers['mcp-protocol-version'] = session.protocolVersion;
  const res = await auth.fetch(url, url, { method: 'POST', headers, body: JSON.stringify(message) });
  session.id = res.headers.get('mcp-session-id') ?? session.id;
  if (message.id === undefined) {
    // a notification: 202 Accepted, no body
    if (!res.ok) throw new Error(`${message.method}: HTTP ${res.status}`);
    return null;
  }
  if (!res.ok) throw new Error(`${message.method}: HTTP ${res.status} ${await res.text()}`);
  const type = res.headers.get('content-type') ?? '';
  const reply = type.includes('text/event-stream')
    ? parseEventStream(await res.text(), message.id)
    : await res.json();
  if (reply.error) throw new Error(`${message.method}: ${reply.error.code} ${reply.error.message}`);
  return reply.result;
}

async function listTools(url) {
  const session = {};
  const initialized = await mcpPost(url, {
    jsonrpc: '2.0',
    id: ++rpcId,
    method: 'initialize',
    params: {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'mcp-oauth-wasm demo', version: '0.1.0' },
    },
  }, session);
  session.protocolVersion = initialized.protocolVersion;
  log(`initialize: ${initialized.serverInfo?.name ?? '?'} (protocol ${initialized.protocolVersion})`);
  await mcpPost(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session);
  const { tools } = await mcpPost(url, { jsonrpc: '2.0', id: ++rpcId, method: 'tools/list', params: {} }, session);
  return tools;
}

// ---- wiring ----------------------------------------------------------------------------------

function onConnect() {
  showError(null);
  const url = serverUrl();
  log(`authorize ${url}`);
  // No await before authorize(): it opens the popup inside this click handler (R21).
  let pending;
  try {
    pending = auth.authorize(url, { mode: new URLSearchParams(location.search).get('mode') ?? undefined }); // ?mode=redirect
  } catch (err) {
    showError(err);
    return;
  }
  pending.then(
    (status) => {
      renderStatus(status);
      log(`authorized: ${status.scope ?? ''}`);
    },
    (err) => {
      showError(err);
      refreshStatus();
    },
  );
}

async function onListTools() {
  showError(null);
  $('#tools').replaceChildren();
  try {
    const tools = await listTools(serverUrl());
    for (const tool of tools) {
      const li = document.createElement('li');
      li.textContent = tool.name;
      li.title = tool.description ?? '';
      $('#tools').append(li);
    }
    log(`tools/list: ${tools.map((t) => t.name).join(', ')}`);
  } catch (err) {
    showError(err);
  }
  refreshStatus();
}

async function onRevoke() {
  showError(null);
  try {
    await auth.revoke(serverUrl());
    log('revoked');
    $('#tools').replaceChildren();
  } catch (err) {
    showError(err);
  }
  refreshStatus();
}

function onForget() {
  showError(null);
  try {
    auth.forget(serverUrl());
    log('forgotten');
    $('#tools').replaceChildren();
  } catch (err) {
    showError(err);
  }
  refreshStatus();
}

async function main() {
  const config = await fetch('/config.json')
    .then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}));
  const query = new URLSearchParams(location.search);
  $('#server-url').value = query.get('server') ?? config.mcpUrl ?? 'http://127.0.0.1:9411/mcp';

  await init();
  auth = new McpAuth({
    redirectUri: new URL('callback.html', location.href).href,
    clientName: 'mcp-oauth-wasm demo',
    storage: query.get('storage') ?? undefined, // ?storage=local|session|memory
  });
  auth.subscribe((event) => {
    if (event.type === 'step') {
      const detail = event.detail === undefined ? '' : ` ${JSON.stringify(event.detail)}`;
      log(`step ${event.step}${detail}`);
    } else if (event.type === 'status') {
      log(`status ${event.status.serverUrl}: ${event.status.state}`);
      refreshStatus();
    }
  });

  $('#server-form').addEventListener('submit', (e) => e.preventDefault());
  $('#connect').addEventListener('click', onConnect);
  $('#list-tools').addEventListener('click', onListTools);
  $('#revoke').addEventListener('click', onRevoke);
  $('#forget').addEventListener('click', onForget);
  $('#server-url').addEventListener('change', refreshStatus);
  for (const b of document.querySelectorAll('.buttons button')) b.disabled = false;

  refreshStatus();
  document.body.dataset.ready = 'true';
  log('ready');
}

main().catch((err) => {
  showError(err);
  if (!auth) $('#error').textContent += '\n(is the package built? make pkg)';
});
