// What the browser-driven suites share (e2e, conformance, interop): Debian's Chromium launched
// headless with the flags this machine's closed network needs, the MCP SDK's client bundled for a
// page, and CORS added to the answers of servers that send none, as a proxy in front would.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Headless Chromium (env CHROMIUM, default /usr/bin/chromium), with `args` added. */
export function launchChromium(args = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', ...args],
    timeout: 30_000,
  });
}

let sdkClient;
/** The MCP SDK's `Client` and `StreamableHTTPClientTransport`, bundled as one ES module text. */
export async function mcpSdkClientBundle() {
  sdkClient ??= build({
    stdin: {
      contents: `export { Client } from '@modelcontextprotocol/sdk/client/index.js';
                 export { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';`,
      resolveDir: repoRoot,
      loader: 'js',
    },
    bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent',
  }).then((out) => out.outputFiles[0].text);
  return sdkClient;
}

/**
 * CORS added to the answers of the servers whose URLs `matches`, for pages of `appOrigin`:
 * preflights answered, `Access-Control-Allow-Origin` and `-Expose-Headers` added, nothing else
 * changed; the popup's pages go through untouched.
 */
export async function addCors(context, matches, appOrigin) {
  await context.route(matches, async (route) => {
    const request = route.request();
    const cors = {
      'access-control-allow-origin': appOrigin,
      'access-control-allow-headers': request.headers()['access-control-request-headers'] ?? '*',
      'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
      'access-control-expose-headers': 'WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version, DPoP-Nonce',
    };
    if (request.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors });
    if (request.resourceType() === 'document') return route.continue();
    try {
      const response = await route.fetch({ maxRedirects: 0 });
      return await route.fulfill({ response, headers: { ...response.headers(), ...cors } });
    } catch {
      // a request still open when the page goes (the MCP SDK's GET event stream): nothing to add
      return undefined;
    }
  });
}
