// The interop harness: one third-party authorization stack (a module of tests/interop/stacks/,
// see STACKS.md) driven in headless Chromium through the package's public API only, as an app
// would: discover → registration → authorize from a click (the stack's own sign-in page filled
// in) → the MCP SDK's Client over fetchFor (tools/list, tools/call) → a refresh after expiry →
// revoke. Each step is reported as one line.

import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addCors, launchChromium, mcpSdkClientBundle } from '../shared/browser.mjs';
import selfsigned from 'selfsigned';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
const pkgDir = process.env.MCP_OAUTH_PKG_DIR ? path.resolve(process.env.MCP_OAUTH_PKG_DIR) : path.join(repoRoot, 'pkg');

export const APP_PORTS = { http: 9650, https: 9651 };
/** The https app's host name: not a loopback name (some servers refuse https redirect URIs on
 *  loopback hosts for web clients), mapped to 127.0.0.1 inside the browser alone. */
export const HTTPS_APP_HOST = 'app.interop.test';
const STEP_TIMEOUT = 30_000;

const pages = {
  '/': '<!doctype html><meta charset="utf-8"><title>mcp-oauth-wasm interop</title><button id="connect">Connect</button>',
  // the popup's callback page: it hands the response to the opener, which finishes the flow
  '/callback.html': `<!doctype html><meta charset="utf-8"><title>callback</title><script type="module">
    import init, { McpAuth } from '/pkg/mcp_oauth_wasm.js';
    await init();
    try { await new McpAuth({ redirectUri: location.origin + '/callback.html' }).handleCallback(); }
    catch (e) { document.body.textContent = e.code + ': ' + e.message; }
  </script>`,
};

/** The app's web server on 127.0.0.1: http, or https with a self-signed certificate made here. */
export async function serveApp({ https = false } = {}) {
  const sdk = await mcpSdkClientBundle();
  const handler = async (req, res) => {
    const { pathname } = new URL(req.url, 'http://localhost');
    try {
      if (pages[pathname]) return res.writeHead(200, { 'content-type': 'text/html' }).end(pages[pathname]);
      if (pathname === '/mcp-sdk.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdk);
      if (pathname.startsWith('/pkg/')) {
        const file = path.join(pkgDir, path.normalize(pathname.slice(5)));
        if (!file.startsWith(pkgDir)) throw new Error('outside pkg/');
        const type = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
        return res.writeHead(200, { 'content-type': type }).end(await readFile(file));
      }
    } catch { /* 404 below */ }
    return res.writeHead(404).end();
  };
  let server;
  if (https) {
    const pems = await selfsigned.generate([{ name: 'commonName', value: HTTPS_APP_HOST }], {
      days: 1, keySize: 2048, extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: HTTPS_APP_HOST }] }],
    });
    server = createHttpsServer({ key: pems.private, cert: pems.cert }, handler);
  } else {
    server = createHttpServer(handler);
  }
  const port = https ? APP_PORTS.https : APP_PORTS.http;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    origin: https ? `https://${HTTPS_APP_HOST}:${port}` : `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

export const launchBrowser = () => launchChromium([
  // the https app's name resolves to 127.0.0.1 and nothing else resolves at all
  `--host-resolver-rules=MAP ${HTTPS_APP_HOST} 127.0.0.1, EXCLUDE 127.0.0.1`,
]);

/** MCP over fetchFor with the SDK's Client: tools/list, and tools/call of `tool` when given. */
const mcpSession = (page, mcpUrl, tool) => page.evaluate(async ({ mcpUrl, tool }) => {
  const { Client, StreamableHTTPClientTransport } = await import('/mcp-sdk.js');
  const client = new Client({ name: 'mcp-oauth-wasm interop', version: '0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: window.auth.fetchFor(mcpUrl) }));
    const { tools } = await client.listTools();
    let text = null;
    if (tool) {
      const result = await client.callTool({ name: tool.name, arguments: tool.arguments });
      text = (result.content ?? []).map((c) => c.text ?? '').join('\n');
    }
    return { ok: true, tools: tools.map((t) => t.name), text };
  } catch (e) {
    const code = e.code ?? e.cause?.code;
    return { ok: false, error: `${typeof code === 'string' ? code : ''}: ${e.message}` };
  } finally {
    await client.close().catch(() => {});
  }
}, { mcpUrl, tool });

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * Runs the whole flow against one stack module. `report(step, detail)` is called once per step
 * that passed; the first failure throws with what the page and the stack said.
 * @returns {Promise<Record<string, string>>} step → what it showed
 */
export async function runStack(stackModule, { report = () => {}, log = () => {} } = {}) {
  const { info } = stackModule;
  const app = await serveApp({ https: !!info.https });
  const redirectUri = `${app.origin}/callback.html`;
  const logs = [];
  const stackLog = (...a) => { logs.push(a.join(' ')); log(...a); };
  let stack;
  let browser;
  const results = {};
  const pass = (step, detail) => { results[step] = detail; report(step, detail); };
  const consoleLines = [];
  let page;
  try {
    stack = await stackModule.start({ appOrigin: app.origin, redirectUri, log: stackLog });
    browser = await launchBrowser();
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    context.setDefaultTimeout(STEP_TIMEOUT);
    context.on('page', (p) => {
      p.on('console', (m) => consoleLines.push(`[${p === page ? 'page' : 'popup'}] ${m.text()}`));
      p.on('pageerror', (e) => consoleLines.push(`[page error] ${e.message}`));
    });
    const corsOrigins = new Set((stack.corsOrigins ?? []).map((o) => new URL(o).origin));
    if (corsOrigins.size) await addCors(context, (url) => corsOrigins.has(url.origin), app.origin);
    page = await context.newPage();
    await page.goto(`${app.origin}/`);
    await page.evaluate(async ({ redirectUri, options }) => {
      const { default: init, McpAuth } = await import('/pkg/mcp_oauth_wasm.js');
      await init();
      window.auth = new McpAuth({ redirectUri, clientName: "mcp-oauth-wasm interop", refreshSkewSeconds: 1, ...options });
      window.steps = [];
      window.auth.subscribe((ev) => { if (ev.type === 'step') window.steps.push(ev.step); });
    }, { redirectUri, options: stack.options ?? {} });

    // ---- discovery (R1–R10): the probe, both metadata documents, the client-identity decision
    const info2 = await page.evaluate((url) => window.auth.discover(url).then(
      (i) => ({ ok: true, issuer: i.issuer, registration: i.registration, requiresAuth: i.requiresAuth, resource: i.resource }),
      (e) => ({ ok: false, error: `${e.code}: ${e.message}` }),
    ), stack.mcpUrl);
    if (!info2.ok) throw new Error(`discover: ${info2.error}`);
    if (!info2.requiresAuth) throw new Error('discover: the server says it needs no authorization');
    pass('discover', `issuer ${info2.issuer}, resource ${info2.resource}`);

    // ---- authorization from a click (R21), through the stack's sign-in page
    await page.evaluate((url) => {
      document.querySelector('#connect').onclick = () => {
        window.authorized = window.auth.authorize(url, { mode: 'popup' }).then((s) => ({ ok: true, status: s }), (e) => ({ ok: false, error: `${e.code}: ${e.message}` }));
      };
    }, stack.mcpUrl);
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
    const authorized = page.evaluate(() => window.authorized);
    await stack.signIn(popup);
    const outcome = await authorized;
    if (!outcome.ok) throw new Error(`authorize: ${outcome.error}`);
    const status = outcome.status;
    if (status.state !== 'authorized') throw new Error(`authorize: status ${JSON.stringify(status)}`);
    const steps = await page.evaluate(() => window.steps);
    if (info2.registration === 'dynamic' && !steps.includes('registration')) throw new Error(`registration: no registration step (${steps.join(', ')})`);
    pass('registration', `${info2.registration}, client ${status.clientId}`);
    pass('authorize', `scope ${status.scope ?? '(none)'}, ${status.refreshable ? 'refreshable' : 'NOT refreshable'}`);

    // ---- MCP through fetchFor (R37)
    const first = await mcpSession(page, stack.mcpUrl, stack.tool);
    if (!first.ok) throw new Error(`tools: ${first.error}`);
    if (!first.tools.includes(stack.tool.name)) throw new Error(`tools/list: ${first.tools.join(', ')} lacks ${stack.tool.name}`);
    if (!stack.tool.expect.test(first.text ?? '')) throw new Error(`tools/call ${stack.tool.name}: ${first.text}`);
    pass('tools', `tools/list [${first.tools.join(', ')}], tools/call ${stack.tool.name}`);

    // ---- a refresh after the access token expired (R26)
    if (!status.refreshable) throw new Error('refresh: the stack gave no refresh token');
    const before = await page.evaluate((url) => window.auth.status(url).expiresAt, stack.mcpUrl);
    await sleep((stack.accessTokenTtl + 1) * 1000);
    const refreshesBefore = (await page.evaluate(() => window.steps)).filter((s) => s === 'refresh').length;
    const second = await mcpSession(page, stack.mcpUrl, null);
    if (!second.ok) throw new Error(`refresh: tools/list after expiry: ${second.error}`);
    const after = await page.evaluate((url) => window.auth.status(url), stack.mcpUrl);
    const refreshes = (await page.evaluate(() => window.steps)).filter((s) => s === 'refresh').length - refreshesBefore;
    if (refreshes < 1 || !(after.expiresAt > before)) throw new Error(`refresh: ${refreshes} refreshes, expiry ${before} → ${after.expiresAt}`);
    pass('refresh', `${refreshes} refresh, tools/list again, state ${after.state}`);

    // ---- revoke (R29): it passes, or ends in the typed error the stack's own bug gives
    const revoked = await page.evaluate((url) => window.auth.revoke(url).then(
      () => ({ ok: true }),
      (e) => ({ ok: false, code: e.code, message: e.message }),
    ), stack.mcpUrl);
    const expected = stack.revoke ?? { ok: true };
    if (expected.ok) {
      if (!revoked.ok) throw new Error(`revoke: ${revoked.code}: ${revoked.message}`);
      const state = await page.evaluate((url) => window.auth.status(url).state, stack.mcpUrl);
      if (state !== 'authorization_required') throw new Error(`revoke: state ${state} afterwards`);
      pass('revoke', 'revoked, state authorization_required');
    } else {
      if (revoked.ok) throw new Error(`revoke: resolved, but the stack's bug (${expected.bug}) should refuse it`);
      if (revoked.code !== expected.code || !expected.message.test(revoked.message)) {
        throw new Error(`revoke: ${revoked.code}: ${revoked.message} (expected ${expected.code} matching ${expected.message})`);
      }
      pass('revoke', `${revoked.code}, the stack's bug (README): ${revoked.message}`);
    }
    return results;
  } catch (err) {
    err.message = `${info.id}: ${err.message}\n---- page console ----\n${consoleLines.slice(-40).join('\n')}\n---- stack output ----\n${logs.slice(-60).join('\n')}`;
    throw err;
  } finally {
    await page?.context().unrouteAll({ behavior: 'ignoreErrors' }).catch(() => {});
    await browser?.close().catch(() => {});
    await stack?.stop().catch(() => {});
    await app.close();
  }
}
