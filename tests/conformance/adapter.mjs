// The client command the MCP conformance suite runs (`conformance client --command "<node> adapter.mjs"`
// appends the server URL): the built package in headless Chromium, through its public API only.
//
// A small page on 127.0.0.1 loads the package. The MCP SDK's `Client` (stateful revisions) or a
// few lines of stateless JSON-RPC (2026-07-28) talk to the server over `auth.fetch` /
// `auth.fetchFor`; a call refused with `authorization_required` is answered by `authorize()` from
// a click (popup), as an app's Connect button would, and the calls go again (3 authorizations at
// most); step-up on `insufficient_scope` is the library's own, within the click's activation. The suite's servers send no CORS headers, so this harness adds them to their
// responses (Playwright routes) and changes nothing else; a real server must send CORS itself, or
// the app passes the `fetch` option.
//
// Env (set by the suite): MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_CONTEXT (JSON, e.g.
// pre-registered credentials), MCP_CONFORMANCE_PROTOCOL_VERSION.

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addCors, launchChromium, mcpSdkClientBundle } from '../shared/browser.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkgDir = process.env.MCP_OAUTH_PKG_DIR ? path.resolve(process.env.MCP_OAUTH_PKG_DIR) : path.join(repoRoot, 'pkg');
const serverUrl = process.argv[2];
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT || '{}');
const protocolVersion = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION || '2025-11-25';
const log = (...a) => console.error('[adapter]', ...a);

const sdk = await mcpSdkClientBundle();

const pages = {
  '/': '<!doctype html><meta charset="utf-8"><title>mcp-oauth-wasm conformance</title><button id="authorize">authorize</button>',
  '/callback.html': `<!doctype html><meta charset="utf-8"><script type="module">
    import init, { McpAuth } from '/pkg/mcp_oauth_wasm.js';
    await init();
    try { await new McpAuth({ redirectUri: location.origin + '/callback.html' }).handleCallback(); }
    catch (e) { document.body.textContent = e.code + ': ' + e.message; }
  </script>`,
};
const web = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, 'http://localhost');
  try {
    if (pages[pathname]) return res.writeHead(200, { 'content-type': 'text/html' }).end(pages[pathname]);
    if (pathname === '/mcp-sdk.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdk);
    if (pathname.startsWith('/pkg/')) {
      const file = path.join(pkgDir, path.normalize(pathname.slice(5)));
      const type = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
      return res.writeHead(200, { 'content-type': type }).end(await readFile(file));
    }
  } catch { /* 404 below */ }
  return res.writeHead(404).end();
});
await new Promise((resolve) => { web.listen(0, '127.0.0.1', resolve); });
const origin = `http://127.0.0.1:${web.address().port}`;

const browser = await launchChromium();
let failed = false;
try {
  const ctx = await browser.newContext();
  // the suite's servers, on localhost: CORS added, nothing else changed
  await addCors(ctx, (url) => url.hostname === 'localhost', origin);
  const page = await ctx.newPage();
  page.on('console', (m) => log('[page]', m.text()));
  page.on('pageerror', (e) => log('[page error]', e.message));
  await page.goto(`${origin}/`);
  await page.evaluate(async ({ serverUrl, context, scenario }) => {
    const { default: init, McpAuth } = await import('/pkg/mcp_oauth_wasm.js');
    await init();
    const clients = context.client_id
      ? { [context.issuer ?? context.authorization_server ?? '']: { clientId: context.client_id, clientSecret: context.client_secret } }
      : undefined;
    // a client ID metadata document URL, as an app that publishes one configures it (R11)
    const clientMetadataUrl = context.client_metadata_url ?? 'https://conformance-test.local/client-metadata.json';
    // R34: DPoP is the app's opt-in where the resource does not say it takes DPoP (as in the MCP
    // SDK); the suite's DPoP extension scenarios are such servers
    const dpop = scenario.startsWith('auth/dpop') ? 'always' : undefined;
    window.auth = new McpAuth({ redirectUri: `${location.origin}/callback.html`, clients, clientMetadataUrl, dpop });
    document.querySelector('#authorize').onclick = () => {
      window.authorized = window.auth.authorize(serverUrl, { mode: 'popup' }).then((s) => s.state, (e) => `${e.code}: ${e.message}`);
    };
  }, { serverUrl, context, scenario: process.env.MCP_CONFORMANCE_SCENARIO ?? '' });

  /** authorize() from a click, as an app's Connect button would. */
  const authorize = async () => {
    await page.click('#authorize');
    const state = await page.evaluate(() => window.authorized);
    log('authorize:', state);
    return state;
  };

  // as an app does: talk to the server; a refusal is answered by authorizing (from a click),
  // then the calls go again — 3 authorizations at most
  for (let attempt = 0; attempt <= 3; attempt += 1) {
    const outcome = await page.evaluate(async ({ serverUrl, protocolVersion }) => {
      const failure = (e) => {
        const code = e.code ?? e.cause?.code;
        return { ok: false, code: typeof code === 'string' ? code : undefined, message: String(e.message ?? e) };
      };
      if (protocolVersion >= '2026') {
        // the stateless revision: no initialize; the version in a header and in every request's _meta
        const meta = { 'io.modelcontextprotocol/protocolVersion': protocolVersion, 'io.modelcontextprotocol/clientCapabilities': {} };
        let id = 0;
        const call = async (method, params = {}) => {
          const res = await window.auth.fetch(serverUrl, serverUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': protocolVersion },
            body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: { ...params, _meta: meta } }),
          });
          if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${await res.text()}`);
          return (await res.json()).result;
        };
        try {
          const { tools } = await call('tools/list');
          for (const tool of tools) await call('tools/call', { name: tool.name, arguments: {} });
          return { ok: true, tools: tools.map((t) => t.name) };
        } catch (e) {
          return failure(e);
        }
      }
      const { Client, StreamableHTTPClientTransport } = await import('/mcp-sdk.js');
      const client = new Client({ name: 'mcp-oauth-wasm conformance', version: '0' });
      try {
        await client.connect(new StreamableHTTPClientTransport(new URL(serverUrl), { fetch: window.auth.fetchFor(serverUrl) }));
        const { tools } = await client.listTools();
        for (const tool of tools) await client.callTool({ name: tool.name, arguments: {} });
        return { ok: true, tools: tools.map((t) => t.name) };
      } catch (e) {
        return failure(e);
      } finally {
        await client.close().catch(() => {});
      }
    }, { serverUrl, protocolVersion });
    log('mcp:', JSON.stringify(outcome));
    if (outcome.ok) break;
    // step-up (insufficient_scope) is the library's own while the click's activation lasts
    const refused = /authorization_required/.test(`${outcome.code} ${outcome.message}`);
    if (!refused || attempt === 3) { failed = true; break; }
    await authorize();
  }
} catch (e) {
  failed = true;
  log('error:', e.message);
} finally {
  await browser.close().catch(() => {});
  web.close();
}
process.exit(failed ? 1 : 0);
