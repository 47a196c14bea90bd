// End-to-end: the MCP TypeScript SDK's `Client` in the page (bundled for the browser with
// esbuild), over its `StreamableHTTPClientTransport` with `fetch: auth.fetchFor(serverUrl)`
// (R37), against the local MCP server, across a refresh of 3-second access tokens.
//
// Ports: MCP_OAUTH_E2E_SDK_PORT (default 9440, with the next two).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mcpSdkClientBundle } from '../shared/browser.mjs';
import { startStack } from '../stack/stack.mjs';
import { TIMEOUTS, assertPackageBuilt, launchBrowser, pkgDir, watchContext, withDiagnostics } from './helpers.mjs';

const base = Number(process.env.MCP_OAUTH_E2E_SDK_PORT ?? 9440);
let stack;
let browser;
let sdkBundle;

before(async () => {
  stack = await startStack({
    asPort: base, mcpPort: base + 1, webPort: base + 2, pkgDir, quiet: true, autoApprove: true, accessTokenTTL: 3,
  });
  browser = await launchBrowser();
  sdkBundle = await mcpSdkClientBundle();
}, { timeout: 60_000 });

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stop();
}, { timeout: 30_000 });

test('R37 the MCP SDK Client over auth.fetchFor connects, lists and calls tools, across a token refresh', { timeout: TIMEOUTS.test }, async () => {
  assertPackageBuilt();
  const context = await browser.newContext();
  context.setDefaultTimeout(TIMEOUTS.action);
  // the SDK bundle, served on the page's own origin
  await context.route('**/mcp-sdk.js', (route) => route.fulfill({ contentType: 'text/javascript', body: sdkBundle }));
  const d = watchContext(context);
  const page = await context.newPage();
  await withDiagnostics(d, () => page, stack, async () => {
    await page.goto(`${stack.webUrl}/apps/plain/`);
    await page.waitForSelector('body[data-ready="true"]');
    await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
    await page.waitForFunction(() => document.querySelector('#status-state')?.textContent === 'authorized'
      || document.querySelector('#error')?.textContent);
    assert.equal(await page.locator('#error').innerText(), '');

    const refreshesBefore = stack.events.tokens.filter((t) => t.grant_type === 'refresh_token').length;
    const result = await page.evaluate(async (mcpUrl) => {
      const { McpAuth } = await import('/pkg/mcp_oauth_wasm.js');
      const { Client, StreamableHTTPClientTransport } = await import('/mcp-sdk.js');
      const auth = new McpAuth({ redirectUri: `${location.origin}/apps/plain/callback.html`, refreshSkewSeconds: 1 });
      const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: auth.fetchFor(mcpUrl) });
      const client = new Client({ name: 'mcp-oauth-wasm e2e', version: '0' });
      await client.connect(transport);
      const tools = (await client.listTools()).tools.map((t) => t.name);
      const echoed = (await client.callTool({ name: 'echo', arguments: { text: 'over fetchFor' } })).content[0].text;
      // past the access token's lifetime: the next call refreshes underneath
      const { expiresAt } = auth.status(mcpUrl);
      await new Promise((r) => { setTimeout(r, Math.max(0, expiresAt - Date.now()) + 100); });
      const sum = (await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })).content[0].text;
      await client.close();
      return { tools, echoed, sum, state: auth.status(mcpUrl).state };
    }, stack.mcpUrl);
    assert.ok(result.tools.includes('echo') && result.tools.includes('add'), `tools: ${result.tools}`);
    assert.equal(result.echoed, 'over fetchFor');
    assert.equal(result.sum, '5');
    assert.equal(result.state, 'authorized');
    const refreshes = stack.events.tokens.filter((t) => t.grant_type === 'refresh_token').length - refreshesBefore;
    assert.ok(refreshes >= 1, 'the token was refreshed underneath the SDK');
    const sdkCalls = stack.events.mcpRequests.filter((r) => r.rpcMethods?.includes('tools/call') && r.status === 200);
    assert.ok(sdkCalls.length >= 2 && sdkCalls.every((r) => r.hadAuthorization), 'the SDK calls carried the token');
  }, 'sdk-fetchFor');
  await context.close();
});
