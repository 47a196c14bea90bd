// The benchmark: this package against the MCP TypeScript SDK's client auth (`auth()` under its
// StreamableHTTPClientTransport, with a minimal browser OAuthClientProvider), in one headless
// Chromium, against the same local stack (oidc-provider auto-approving, the MCP SDK server).
// Both sides use the SDK's `Client` for the MCP traffic, so only the authorization differs.
//
//   node bench/run.mjs [--rounds=N] [--smoke]
//
// Writes bench/results.md and bench/results.json (--smoke: one round, a small load, nothing
// written; it checks that every measure runs, never how fast).

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { startStack } from '../tests/stack/stack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const pkgDir = path.join(repoRoot, 'pkg');
const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const ROUNDS = smoke ? 1 : Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 5);
const LOADS = smoke ? [1, 10] : [1, 10, 100];
const DELAY_MS = 50; // added to every response of both servers for the connect measures
const TTL = 4; // access tokens, seconds
const HOT_CALLS = smoke ? 50 : 1000;
const HOT_FETCHES = smoke ? 10 : 100;
const base = Number(process.env.MCP_OAUTH_BENCH_PORT ?? 9490);

const log = (...a) => console.log('[bench]', ...a);

// ---- the SDK, bundled for the browser ---------------------------------------------------------
async function bundle(contents, minify) {
  const out = await build({
    stdin: { contents, resolveDir: repoRoot, loader: 'js' },
    bundle: true, format: 'esm', platform: 'browser', minify, write: false, logLevel: 'silent',
  });
  return out.outputFiles[0].contents;
}
const sdkClient = await bundle(`export { Client } from '@modelcontextprotocol/sdk/client/index.js';
  export { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
  export { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';`, true);
const sdkAuthOnly = await bundle(`export { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';`, true);
writeFileSync(path.join(here, 'page', 'sdk.js'), sdkClient);
writeFileSync(path.join(here, 'page', 'sdk-auth.js'), sdkAuthOnly);

const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const glue = readFileSync(path.join(pkgDir, 'mcp_oauth_wasm.js'));
const snippets = execFileSync('find', [path.join(pkgDir, 'snippets'), '-name', '*.js'], { encoding: 'utf8' }).trim().split('\n');
const oursBytes = gz(readFileSync(path.join(pkgDir, 'mcp_oauth_wasm_bg.wasm'))) + gz(glue) + snippets.reduce((n, f) => n + gz(readFileSync(f)), 0);

// ---- the stack and the browser ------------------------------------------------------------------
const stack = await startStack({
  asPort: base, mcpPort: base + 1, webPort: base + 2, webRoot: path.join(here, 'page'), pkgDir,
  quiet: true, autoApprove: true, accessTokenTTL: TTL, cacheable: true,
});
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--no-first-run'],
});
const ev = stack.events;
const mcpUrl = stack.mcpUrl;

/** What the servers saw from `since`: requests, metadata, registrations, refreshes, and the
 *  longest chain of requests each sent after the previous one answered (sequential round trips). */
function wire(since) {
  const http = ev.http.filter((r) => r.start >= since);
  const sorted = [...http].sort((a, b) => a.end - b.end);
  const chain = sorted.map(() => 1);
  for (let i = 0; i < sorted.length; i += 1) {
    for (let j = 0; j < i; j += 1) if (sorted[j].end <= sorted[i].start) chain[i] = Math.max(chain[i], chain[j] + 1);
  }
  return {
    requests: http.length,
    roundTrips: Math.max(0, ...chain),
    metadata: http.filter((r) => r.method === 'GET' && r.path.startsWith('/.well-known/')).length,
    registrations: http.filter((r) => r.method === 'POST' && r.path === '/reg').length,
    refreshes: ev.tokens.filter((t) => t.at >= since && t.grant_type === 'refresh_token').length,
    refreshErrors: ev.errors.filter((e) => e.at >= since && e.where === 'grant.error').length,
  };
}

async function freshPage() {
  const context = await browser.newContext();
  context.setDefaultTimeout(30_000);
  const page = await context.newPage();
  page.on('pageerror', (e) => log('page error:', e.message));
  await page.goto(`${stack.webUrl}/`);
  await page.waitForSelector('body[data-ready="true"]');
  return { context, page };
}

/** Click the page's button (a real click) and wait for what `arm` put in window.benchResult. */
async function click(page) {
  const t = Date.now();
  await page.click('#go');
  const result = await page.evaluate(() => window.benchResult);
  return { ...result, clickedAt: t };
}

// ---- one side ------------------------------------------------------------------------------------
const sides = {
  ours: {
    async load(page) {
      await page.evaluate(async () => {
        const m = await import('/ours.js');
        window.side = { m, auth: await m.ready() };
      });
    },
    // the server URL is known before the click: discovery runs then (no user interaction)
    async beforeClick(page, url) {
      await page.evaluate((u) => window.side.auth.discover(u), url);
    },
    async arm(page, url) {
      await page.evaluate((u) => {
        window.onBenchClick = () => {
          const { m, auth } = window.side;
          const t0 = performance.now();
          window.benchResult = auth.authorize(u) // first thing in the click: the popup opens
            .then(() => m.mcpClient(auth, u))
            .then(async (client) => { window.side.client = client; return { tools: (await client.listTools()).tools.length, ms: performance.now() - t0 }; });
        };
      }, url);
    },
    disconnect: (page, url) => page.evaluate((u) => window.side.auth.revoke(u), url),
    reconnectAfterReload: (page, url) => page.evaluate(async (u) => {
      const m = await import('/ours.js');
      const auth = await m.ready();
      window.side = { m, auth, client: await m.mcpClient(auth, u) };
      return (await window.side.client.listTools()).tools.length;
    }, url),
    expiresAt: (page, url) => page.evaluate((u) => window.side.auth.status(u).expiresAt, url),
    signedIn: (page, url) => page.evaluate((u) => ['authorized', 'expired'].includes(window.side.auth.status(u).state), url),
    hot: (page, url, calls, fetches) => page.evaluate(async ({ u, calls, fetches }) => {
      const { hotPath } = await import('/hot.js');
      const { auth } = window.side;
      return hotPath({
        url: u, calls, fetches, token: () => auth.getAccessToken(u), bearer: await auth.getAccessToken(u),
        authorizedFetch: (init) => auth.fetch(u, u, init),
      });
    }, { u: url, calls, fetches }),
  },
  sdk: {
    async load(page) {
      await page.evaluate(async () => {
        const m = await import('/sdk-side.js');
        window.side = { m, provider: new m.PopupProvider() };
      });
    },
    async beforeClick() {},
    async arm(page, url) {
      await page.evaluate((u) => {
        window.onBenchClick = () => {
          const { m, provider } = window.side;
          const t0 = performance.now();
          provider.openPopup(); // in the click; the SDK sends it to the authorization URL later
          window.benchResult = m.connect(u, provider)
            .then(async (client) => { window.side.client = client; return { tools: (await client.listTools()).tools.length, ms: performance.now() - t0 }; });
        };
      }, url);
    },
    // the SDK has no revocation: a disconnect drops the tokens
    disconnect: (page) => page.evaluate(() => window.side.provider.invalidateCredentials('tokens')),
    reconnectAfterReload: (page, url) => page.evaluate(async (u) => {
      const m = await import('/sdk-side.js');
      const provider = new m.PopupProvider();
      window.side = { m, provider, client: (await m.newClient(u, provider)).client };
      return (await window.side.client.listTools()).tools.length;
    }, url),
    expiresAt: (page) => page.evaluate(() => {
      const t = JSON.parse(localStorage.getItem('sdk-bench:tokens'));
      if (!t) return null; // signed out
      return (window.side.savedAt ?? Date.now()) + t.expires_in * 1000;
    }),
    signedIn: (page) => page.evaluate(() => localStorage.getItem('sdk-bench:tokens') != null),
    hot: (page, url, calls, fetches) => page.evaluate(async ({ u, calls, fetches }) => {
      const { hotPath } = await import('/hot.js');
      const { provider } = window.side;
      return hotPath({
        url: u, calls, fetches,
        token: () => provider.tokens(), // what its transport reads per request
        bearer: (await provider.tokens()).access_token,
        authorizedFetch: async (init) => {
          init.headers.authorization = `Bearer ${(await provider.tokens()).access_token}`;
          return fetch(u, init);
        },
      });
    }, { u: url, calls, fetches }),
  },
};

/** Wait until the side's access token has expired at the server (at once when signed out). */
async function waitExpired(side, page) {
  const at = await sides[side].expiresAt(page, mcpUrl);
  if (at == null) return;
  const wait = Math.max(0, at - Date.now()) + 1200;
  await new Promise((r) => { setTimeout(r, wait); });
}

async function round(side) {
  const s = sides[side];
  const out = {};
  const { context, page } = await freshPage();
  try {
    // connect, with 50 ms on every response
    stack.setResponseDelay(DELAY_MS);
    const loadedAt = Date.now();
    await s.load(page);
    await s.beforeClick(page, mcpUrl);
    await s.arm(page, mcpUrl);
    const c = await click(page);
    const after = wire(c.clickedAt);
    const total = wire(loadedAt);
    if (side === 'sdk') await page.evaluate(() => { window.side.savedAt = Date.now(); });
    out.connect = { ms: c.ms, requestsAfterClick: after.requests, requestsTotal: total.requests, roundTrips: after.roundTrips };

    // the hot path, no delay, with a fresh token
    stack.setResponseDelay(0);
    out.hot = await s.hot(page, mcpUrl, HOT_CALLS, HOT_FETCHES);

    // refresh under load: N concurrent calls on an expired access token
    out.load = {};
    for (const n of LOADS) {
      await waitExpired(side, page);
      const since = Date.now();
      const r = await page.evaluate(async (k) => (await import('/hot.js')).underLoad(window.side.client, k), n);
      if (side === 'sdk') await page.evaluate(() => { window.side.savedAt = Date.now(); });
      const w = wire(since);
      const signedIn = await s.signedIn(page, mcpUrl);
      out.load[n] = { refreshes: w.refreshes, failures: r.failures, refreshErrors: w.refreshErrors, ms: r.ms, signedOut: signedIn ? 0 : 1 };
    }

    // reconnect after a disconnect: what discovery and registration cost again
    stack.setResponseDelay(DELAY_MS);
    await s.disconnect(page, mcpUrl);
    await s.arm(page, mcpUrl);
    const again = await click(page);
    const w1 = wire(again.clickedAt);
    out.reconnectAfterDisconnect = { metadata: w1.metadata, registrations: w1.registrations, ms: again.ms };

    // reconnect after a reload
    if (side === 'sdk') await page.evaluate(() => { window.side.savedAt = Date.now(); });
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    const since = Date.now();
    await s.reconnectAfterReload(page, mcpUrl);
    const w2 = wire(since);
    out.reconnectAfterReload = { metadata: w2.metadata, registrations: w2.registrations };
    stack.setResponseDelay(0);
  } finally {
    await context.close();
  }
  return out;
}

/** Import → ready with the files in the HTTP cache (a second visit). */
async function loadTime() {
  const { context, page } = await freshPage();
  try {
    const warm = () => page.evaluate(async () => {
      const m = await import('/pkg/mcp_oauth_wasm.js');
      await m.default();
      await import('/sdk-auth.js');
    });
    await warm();
    const measure = async (which) => {
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      return page.evaluate(async (w) => {
        const t0 = performance.now();
        if (w === 'ours') {
          const m = await import('/pkg/mcp_oauth_wasm.js');
          await m.default();
          new m.McpAuth({ redirectUri: `${location.origin}/callback.html` });
        } else {
          await import('/sdk-auth.js');
        }
        return performance.now() - t0;
      }, which);
    };
    return { ours: await measure('ours'), sdk: await measure('sdk') };
  } finally {
    await context.close();
  }
}

// ---- run ---------------------------------------------------------------------------------------
const results = { ours: [], sdk: [], loadMs: [] };
const started = Date.now();
try {
  for (let i = 0; i < ROUNDS; i += 1) {
    for (const side of ['ours', 'sdk']) {
      log(`round ${i + 1}/${ROUNDS}: ${side}`);
      results[side].push(await round(side));
    }
    results.loadMs.push(await loadTime());
  }
} finally {
  await browser.close();
  await stack.stop();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const stat = (side, pick) => {
  const xs = results[side].map(pick);
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
};
const fmt = (st, digits = 0) => (st.min === st.max ? st.median.toFixed(digits) : `${st.median.toFixed(digits)} (${st.min.toFixed(digits)}–${st.max.toFixed(digits)})`);
const ratio = (sdk, ours) => (ours.median === 0 ? (sdk.median === 0 ? '=' : '∞') : `${(sdk.median / ours.median).toFixed(2)}×`);

const rows = [];
const row = (measure, pick, digits = 0, note = '') => {
  const o = stat('ours', pick);
  const s = stat('sdk', pick);
  rows.push({ measure, ours: o, sdk: s, digits, note });
};
row('connect: wall time, click → authorized tools/list (ms)', (r) => r.connect.ms);
row('connect: sequential round trips after the click', (r) => r.connect.roundTrips);
row('connect: requests after the click', (r) => r.connect.requestsAfterClick);
row('connect: requests in all (ours: discovery before the click included)', (r) => r.connect.requestsTotal);
row('reconnect after a disconnect: metadata + registration requests', (r) => r.reconnectAfterDisconnect.metadata + r.reconnectAfterDisconnect.registrations);
row('reconnect after a disconnect: wall time (ms)', (r) => r.reconnectAfterDisconnect.ms);
row('reconnect after a reload: metadata + registration requests', (r) => r.reconnectAfterReload.metadata + r.reconnectAfterReload.registrations);
for (const n of LOADS) {
  row(`refresh under load, N = ${n}: refresh requests`, (r) => r.load[n].refreshes);
  row(`refresh under load, N = ${n}: failed calls`, (r) => r.load[n].failures);
  row(`refresh under load, N = ${n}: signed out afterwards (0 or 1)`, (r) => r.load[n].signedOut);
  row(`refresh under load, N = ${n}: wall time (ms)`, (r) => r.load[n].ms);
}
row('hot path: token for a request, per call (µs)', (r) => r.hot.tokenUs, 1);
row('hot path: authorized fetch ÷ plain fetch', (r) => r.hot.fetchRatio, 2);
const loadOurs = { median: median(results.loadMs.map((l) => l.ours)), min: Math.min(...results.loadMs.map((l) => l.ours)), max: Math.max(...results.loadMs.map((l) => l.ours)) };
const loadSdk = { median: median(results.loadMs.map((l) => l.sdk)), min: Math.min(...results.loadMs.map((l) => l.sdk)), max: Math.max(...results.loadMs.map((l) => l.sdk)) };
rows.push({ measure: 'load: import → ready, from the HTTP cache (ms)', ours: loadOurs, sdk: loadSdk, digits: 1 });
const bytes = { median: oursBytes, min: oursBytes, max: oursBytes };
const sdkBytes = { median: gz(sdkAuthOnly), min: gz(sdkAuthOnly), max: gz(sdkAuthOnly) };
rows.push({ measure: 'load: bytes (gzip -9)', ours: bytes, sdk: sdkBytes, digits: 0 });

const table = [
  '| measure | mcp-oauth-wasm | MCP SDK | SDK ÷ ours |',
  '|---|---|---|---|',
  ...rows.map((r) => `| ${r.measure} | ${fmt(r.ours, r.digits)} | ${fmt(r.sdk, r.digits)} | ${ratio(r.sdk, r.ours)} |`),
].join('\n');
const seconds = ((Date.now() - started) / 1000).toFixed(0);
console.log(`\n${table}\n\n${ROUNDS} round(s) in ${seconds} s`);

if (!smoke) {
  const md = `# Benchmark: mcp-oauth-wasm vs the MCP TypeScript SDK's client auth

\`make bench\` (bench/run.mjs), ${new Date().toISOString().slice(0, 10)}: ${ROUNDS} rounds, median (min–max).
Headless Chromium, the local stack on 127.0.0.1 (oidc-provider approving without a page, the MCP
SDK's Streamable HTTP server), access tokens of ${TTL} s. The connect and reconnect measures add
${DELAY_MS} ms to every response of both servers. Both sides use the SDK's \`Client\` and
\`StreamableHTTPClientTransport\` for the MCP traffic; the SDK side authorizes with \`auth()\` through
a minimal browser \`OAuthClientProvider\` (popup opened in the click, localStorage, discovery state
kept), this package's side with \`McpAuth\` and \`fetchFor\`, discovering when the URL is known.

${table}

How each row is measured:
- **connect**: from the click to the answer of \`tools/list\`, in a fresh browser context. Round trips
  are counted at the servers: the longest chain of requests each sent after the previous one was
  answered (CORS preflights included).
- **reconnect after a disconnect**: this package revokes (RFC 7009); the SDK has no revocation, so
  its side drops the tokens. Then Connect again.
- **reconnect after a reload**: the page reloaded, a new client lists tools with the kept tokens.
- **refresh under load**: N concurrent \`tools/list\` calls once the access token has expired.
- **hot path**: the token a request needs (\`getAccessToken\` here; the provider's \`tokens()\`, which the
  SDK's transport reads per request) and an authorized \`fetch\` of \`tools/list\` over a plain
  \`fetch\` with the same header, interleaved, ${HOT_FETCHES} each.
- **load**: the package (wasm + glue + snippet) against the SDK's \`client/auth.js\` bundled and
  minified by esbuild, and the time from \`import\` to ready (\`init()\` + \`new McpAuth\`) with the
  files in the HTTP cache.

Reading it:
- **The physical floor of a first connect.** From nothing, the protocol needs, one after another:
  the probe (its 401), the protected-resource metadata, the authorization-server metadata, the
  registration (and its CORS preflight), the authorization in the popup (here three hops at the
  authorization server: the request, its approval, the redirect back), the token request (a simple
  request: no preflight), then MCP's \`initialize\` (and its preflight), \`notifications/initialized\`
  and \`tools/list\`. This package runs the first three when the URL is known, so what is left
  after the click is the registration onwards: 9–10 round trips, one of them the registration's
  preflight. The SDK starts everything at the click.
- **Refresh under load**: the SDK's transport refreshes on each caller's 401. With rotating refresh
  tokens and reuse detection (oidc-provider's default) the second refresh uses a spent token,
  the server revokes the grant, and the SDK drops the tokens: the user is signed out, and every
  call after that fails at once — which is what its shorter wall time for N = 100 measures. Here
  one refresh serves every caller (one lock run per page, tokens handed on from memory), and all
  the calls succeed.
- **Behind, and why.** A token from memory is a call into wasm and a resolved promise, a few
  microseconds against the SDK's \`JSON.parse\` of localStorage (the token is also checked for
  expiry here). Loading compiles and instantiates about 400 KB of wasm: the bytes and the time
  are the cost of the Rust core (URL and JSON parsers that agree with the browser's, the flows,
  DPoP) against JavaScript that the SDK's users already parse for its client.
`;
  writeFileSync(path.join(here, 'results.md'), md);
  writeFileSync(path.join(here, 'results.json'), `${JSON.stringify({ date: new Date().toISOString(), rounds: ROUNDS, delayMs: DELAY_MS, ttl: TTL, results, rows }, null, 1)}\n`);
  log('wrote bench/results.md and bench/results.json');
}
