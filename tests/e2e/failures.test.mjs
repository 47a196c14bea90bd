// End-to-end: what a refresh failure keeps (R27), against the real stack with 3-second access
// tokens: the authorization server unreachable during a refresh keeps everything; the grant
// revoked at the server drops the tokens but not the registration.
//
// Ports: MCP_OAUTH_E2E_FAILURES_PORT (default 9450, with the next two).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startStack } from '../stack/stack.mjs';
import { listen } from '../stack/listen.mjs';
import {
  TIMEOUTS, assertPackageBuilt, launchBrowser, openPlainApp, pkgDir, watchContext, withDiagnostics,
} from './helpers.mjs';

const base = Number(process.env.MCP_OAUTH_E2E_FAILURES_PORT ?? 9450);
let stack;
let browser;
let page;
let context;
let d;

before(async () => {
  assertPackageBuilt();
  stack = await startStack({
    asPort: base, mcpPort: base + 1, webPort: base + 2, pkgDir, quiet: true, autoApprove: true, accessTokenTTL: 3,
  });
  browser = await launchBrowser();
  context = await browser.newContext();
  context.setDefaultTimeout(TIMEOUTS.action);
  d = watchContext(context);
  page = await openPlainApp(context, stack.webUrl);
}, { timeout: 60_000 });

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stop();
}, { timeout: 30_000 });

/** Connect through the popup and wait until the tokens are stored. */
async function connect() {
  const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
  if (!popup.isClosed()) await popup.waitForEvent('close');
  await page.waitForFunction((mcpUrl) => window.testAuth.status(mcpUrl).state === 'authorized'
    || document.querySelector('#error')?.textContent, stack.mcpUrl);
  assert.equal(await page.locator('#error').innerText(), '');
}

/** Waits past the access token's expiry, then asks for a token: the token or the error code. */
const afterExpiry = () => page.evaluate(async (mcpUrl) => {
  const { expiresAt } = window.testAuth.status(mcpUrl);
  await new Promise((r) => { setTimeout(r, Math.max(0, expiresAt - Date.now()) + 100); });
  return window.testAuth.getAccessToken(mcpUrl).then(() => 'token', (e) => e.code);
}, stack.mcpUrl);
const status = () => page.evaluate((mcpUrl) => window.testAuth.status(mcpUrl), stack.mcpUrl);
const getToken = () => page.evaluate((mcpUrl) => window.testAuth.getAccessToken(mcpUrl).then(() => 'token', (e) => `${e.code}: ${e.message}`), stack.mcpUrl);
const refreshes = () => stack.events.tokens.filter((t) => t.grant_type === 'refresh_token').length;

test('R27 the authorization server unreachable during a refresh: network, everything kept, and it works once the server is back', { timeout: TIMEOUTS.test }, async () => {
  await withDiagnostics(d, () => page, stack, async () => {
    await connect();
    const { server } = stack.authorizationServer;
    await new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); });
    try {
      assert.equal(await afterExpiry(), 'network');
      const s = await status();
      assert.equal(s.state, 'expired', 'the tokens are kept');
      assert.equal(s.refreshable, true);
    } finally {
      await listen(server, base);
    }
    const before = refreshes();
    assert.equal(await getToken(), 'token');
    assert.equal(refreshes() - before, 1, 'one refresh once the server is back');
    assert.equal((await status()).state, 'authorized');
  }, 'failures-network');
});

test('R27 R29 refresh tokens revoked at the server: authorization_required, and Connect again registers nobody new', { timeout: TIMEOUTS.test }, async () => {
  await withDiagnostics(d, () => page, stack, async () => {
    if ((await status()).state !== 'authorized') await connect();
    const { provider } = stack.authorizationServer;
    const grants = new Set(stack.events.refreshTokens.map((t) => t.grantId).filter(Boolean));
    // the refresh tokens of every grant so far, gone at the server (the grants themselves stay,
    // as the server's session refers to them)
    for (const grantId of grants) await provider.RefreshToken.revokeByGrantId(grantId);
    assert.equal(await afterExpiry(), 'authorization_required');
    const s = await status();
    assert.equal(s.state, 'authorization_required');
    assert.ok(s.clientId, 'the registration is kept');
    const registrations = stack.events.registrations.length;
    await connect();
    assert.equal(stack.events.registrations.length, registrations, 'no new registration');
    assert.equal(await getToken(), 'token');
  }, 'failures-revoked');
});

test('R30 status changes reach the subscribers of another tab: forget, a new authorization, a refresh, a revoke', { timeout: TIMEOUTS.test }, async () => {
  const other = await context.newPage();
  await withDiagnostics(d, () => page, stack, async () => {
    await other.goto(`${stack.webUrl}/apps/plain/`);
    await other.waitForSelector('body[data-ready="true"]');
    await other.evaluate(async () => {
      const { McpAuth } = await import('/pkg/mcp_oauth_wasm.js');
      window.heard = [];
      const auth = new McpAuth({ redirectUri: `${location.origin}/apps/plain/callback.html` });
      auth.subscribe((e) => { if (e.type === 'status') window.heard.push(e.status); });
    });
    const heardSince = async (n, state) => {
      await other.waitForFunction(([n, state]) => window.heard.slice(n).some((s) => s.state === state), [n, state]);
      return other.evaluate(() => window.heard.length);
    };
    let n = await other.evaluate(() => window.heard.length);
    await page.evaluate((mcpUrl) => window.testAuth.forget(mcpUrl), stack.mcpUrl);
    n = await heardSince(n, 'unknown');
    await connect();
    n = await heardSince(n, 'authorized');
    const before = await other.evaluate(() => window.heard.at(-1).expiresAt);
    assert.equal(await afterExpiry(), 'token');
    await other.waitForFunction(([n, before]) => window.heard.slice(n).some((s) => s.state === 'authorized' && s.expiresAt > before), [n, before]);
    n = await other.evaluate(() => window.heard.length);
    await page.evaluate((mcpUrl) => window.testAuth.revoke(mcpUrl), stack.mcpUrl);
    await heardSince(n, 'authorization_required');
  }, 'status-everywhere');
  await other.close();
});

test('R28 step-up from a click: a 403 insufficient_scope opens the popup for the union of scopes, then the request goes again', { timeout: TIMEOUTS.test }, async () => {
  await withDiagnostics(d, () => page, stack, async () => {
    if ((await status()).state !== 'authorized') await connect();
    // the MCP server asks once for a scope the token lacks
    let refused = 0;
    await context.route(stack.mcpUrl, async (route) => {
      if (route.request().method() !== 'POST' || refused > 0) return route.continue();
      refused += 1;
      return route.fulfill({
        status: 403,
        headers: {
          'access-control-allow-origin': stack.webUrl,
          'access-control-expose-headers': 'WWW-Authenticate',
          'www-authenticate': 'Bearer error="insufficient_scope", scope="mcp:extra"',
        },
        body: '',
      });
    });
    await page.evaluate((mcpUrl) => {
      const button = Object.assign(document.createElement('button'), { id: 'step-up-call', textContent: 'call' });
      button.onclick = () => {
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
        const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
        window.stepUp = window.testAuth.fetch(mcpUrl, mcpUrl, { method: 'POST', headers, body })
          .then((r) => r.status, (e) => `${e.code}: ${e.message}`);
      };
      document.body.append(button);
    }, stack.mcpUrl);
    const authorizations = stack.events.authorizations.length;
    await Promise.all([page.waitForEvent('popup'), page.click('#step-up-call')]);
    assert.equal(await page.evaluate(() => window.stepUp), 200, 'the request went again after the step-up');
    const stepUp = stack.events.authorizations.slice(authorizations);
    assert.equal(stepUp.length, 1, 'one step-up authorization');
    assert.deepEqual(stepUp[0].scope.split(' ').sort(), ['mcp:extra', 'mcp:tools'], 'the union of the granted and the challenged scopes');
    await context.unroute(stack.mcpUrl);
  }, 'step-up');
});
