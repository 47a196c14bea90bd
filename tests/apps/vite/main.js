// A Vite app as an app developer writes it: the package imported by its name, bundled by
// `vite build` (the wasm file is an asset Vite emits). Built and driven by tests/e2e/apps.test.mjs.
import init, { McpAuth } from 'mcp-oauth-wasm';

const $ = (s) => document.querySelector(s);
await init();
const auth = new McpAuth({ redirectUri: new URL('callback.html', location.href).href, clientName: 'Vite app' });
$('#server-url').value = new URLSearchParams(location.search).get('server') ?? '';
const show = (status) => { $('#state').textContent = status.state; };
const fail = (err) => { $('#error').textContent = `${err.code}: ${err.message}`; };

$('#connect').addEventListener('click', () => {
  // authorize() first thing in the click: it opens the popup before any await
  auth.authorize($('#server-url').value).then(show, fail);
});
$('#tools').addEventListener('click', async () => {
  const url = $('#server-url').value;
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const post = (body) => auth.fetch(url, url, { method: 'POST', headers, body: JSON.stringify(body) });
  try {
    await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'vite', version: '0' } } });
    const res = await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const text = await res.text();
    const data = text.startsWith('{') ? JSON.parse(text) : JSON.parse(text.split('\n').find((l) => l.startsWith('data:')).slice(5));
    $('#tool-names').textContent = data.result.tools.map((t) => t.name).join(' ');
  } catch (err) {
    fail(err);
  }
});
for (const b of document.querySelectorAll('button')) b.disabled = false;
document.body.dataset.ready = 'true';
