// End-to-end: the single-flight refresh (R26) against the real stack — oidc-provider rotates
// refresh tokens and revokes the whole grant when a rotated one is presented again — with
// 3-second access tokens, in headless Chromium.
//
//   node --test tests/e2e/refresh.test.mjs
//
// Ports: MCP_OAUTH_E2E_REFRESH_PORT (default 9430, with the next two).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startStack } from '../stack/stack.mjs';
import {
  TIMEOUTS, assertPackageBuilt, launchBrowser, openPlainApp, pkgDir, watchContext, withDiagnostics,
} from './helpers.mjs';

const base = Number(process.env.MCP_OAUTH_E2E_REFRESH_PORT ?? 9430);
const TTL_SECONDS = 3;
let stack;
let browser;

before(async () => {
  stack = await startStack({
    asPort: base, mcpPort: base + 1, webPort: base + 2, pkgDir, quiet: true, autoApprove: true, accessTokenTTL: TTL_SECONDS,
  });
  browser = await launchBrowser();
}, { timeout: 60_000 });

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stop();
}, { timeout: 30_000 });

const refreshes = () => stack.events.tokens.filter((t) => t.grant_type === 'refresh_token').length;

/** A page of the plain app with its own `McpAuth` (refresh skew 1 s) as `window.testAuth`. */
const openTab = (context) => openPlainApp(context, stack.webUrl);

/** Waits in the page until the stored access token has expired (as the library counts it). */
function untilExpired(page) {
  return page.evaluate(async (mcpUrl) => {
    const { expiresAt } = window.testAuth.status(mcpUrl);
    await new Promise((r) => { setTimeout(r, Math.max(0, expiresAt - Date.now()) + 50); });
    return window.testAuth.status(mcpUrl).state;
  }, stack.mcpUrl);
}

test('R26 one refresh for 100 concurrent callers, and one per round for 4 tabs × 20 rounds of fetch, with rotation and reuse detection', { timeout: 240_000 }, async () => {
  assertPackageBuilt();
  const context = await browser.newContext();
  context.setDefaultTimeout(TIMEOUTS.action);
  const d = watchContext(context);
  const first = await openTab(context);
  await withDiagnostics(d, () => first, stack, async () => {
    // connect through the popup (the authorization server approves at once)
    await Promise.all([first.waitForEvent('popup'), first.click('#connect')]);
    await first.waitForFunction(() => document.querySelector('#status-state')?.textContent === 'authorized'
      || document.querySelector('#error')?.textContent);
    assert.equal(await first.locator('#error').innerText(), '');

    // ---- 100 concurrent getAccessToken on an expired token
    assert.equal(await untilExpired(first), 'expired');
    const before = refreshes();
    const tokens = await first.evaluate((mcpUrl) => Promise.all(Array.from({ length: 100 },
      () => window.testAuth.getAccessToken(mcpUrl).catch((e) => `error ${e.code}: ${e.message}`))), stack.mcpUrl);
    assert.equal(new Set(tokens).size, 1, `every caller got the same token: ${[...new Set(tokens)].slice(0, 3).join(' | ')}`);
    assert.ok(!tokens[0].startsWith('error'), tokens[0]);
    assert.equal(refreshes() - before, 1, 'exactly one refresh at the authorization server');

    // ---- 4 tabs of the origin × 20 rounds of simultaneous fetch after expiry
    const tabs = [first, ...await Promise.all([1, 2, 3].map(() => openTab(context)))];
    const perRound = [];
    for (let round = 0; round < 20; round += 1) {
      await untilExpired(first);
      const start = Date.now() + 300;
      const before = refreshes();
      const statuses = await Promise.all(tabs.map((tab) => tab.evaluate(async ({ mcpUrl, start }) => {
        await new Promise((r) => { setTimeout(r, Math.max(0, start - Date.now())); });
        try {
          const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
          const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
          const res = await window.testAuth.fetch(mcpUrl, mcpUrl, { method: 'POST', headers, body });
          return res.status;
        } catch (e) {
          return `error ${e.code}: ${e.message}`;
        }
      }, { mcpUrl: stack.mcpUrl, start })));
      perRound.push(refreshes() - before);
      assert.ok(statuses.every((s) => s !== 401 && !String(s).startsWith('error')), `round ${round}: ${statuses.join(', ')}`);
    }
    assert.deepEqual(perRound, Array(20).fill(1), 'exactly one refresh per round');
    const invalidGrants = stack.events.errors.filter((e) => e.error === 'invalid_grant');
    assert.deepEqual(invalidGrants, [], 'no refresh token was ever presented twice');
    assert.deepEqual(stack.events.grantsRevoked, [], 'the grant was never revoked');
  }, 'refresh-single-flight');
  await context.close();
});
