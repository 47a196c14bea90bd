// End-to-end: what a refresh failure keeps (R27), against the real stack with 3-second access
// tokens: the authorization server unreachable during a refresh keeps everything; the grant
// revoked at the server drops the tokens but not the registration.
//
// Ports: MCP_OAUTH_E2E_FAILURES_PORT (default 9450, with the next two).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startStack } from '../stack/stack.mjs';
import { listen } from '../stack/listen.mjs';
import { TIMEOUTS, assertPackageBuilt, launchBrowser, pkgDir, watchContext, withDiagnostics } from './helpers.mjs';

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
  page = await context.newPage();
  await page.goto(`${stack.webUrl}/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(async () => {
    const { McpAuth } = await import('/pkg/mcp_oauth_wasm.js');
    window.testAuth = new McpAuth({ redirectUri: `${location.origin}/callback.html`, refreshSkewSeconds: 1 });
  });
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
