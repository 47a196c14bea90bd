// The local stack: authorization server (oidc-provider), MCP server, static web server.
//
//   import { startStack } from './tests/stack/stack.mjs';
//   const stack = await startStack({ asPort: 9420, mcpPort: 9421, webPort: 9422, quiet: true });
//   ... stack.events ...
//   await stack.stop();
//
// CLI (what `make demo` runs): `node tests/stack/stack.mjs [--auto-approve] [--dpop] [--token-ttl=SECONDS]`
// starts everything, with the pre-registered pair, prints the URLs and runs until Ctrl-C / SIGTERM.
// Ports: arguments, else env MCP_OAUTH_AS_PORT / MCP_OAUTH_MCP_PORT / MCP_OAUTH_WEB_PORT /
// MCP_OAUTH_CLOSED_AS_PORT / MCP_OAUTH_CLOSED_MCP_PORT, else 9410 / 9411 / 9412 / 9413 / 9414.
// The package served at /pkg/: env MCP_OAUTH_PKG_DIR, else <repo>/pkg. Everything binds 127.0.0.1 only.
//
// The pre-registered pair (`preregistered: true`): a second authorization server with no
// registration endpoint, which knows one public client, PREREGISTERED_CLIENT_ID, and a second MCP
// server that trusts only it. A client must be given that id: the "client id required" path (R11).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAuthorizationServer } from './as.mjs';
import { createEvents } from './events.mjs';
import { startMcpServer } from './mcp.mjs';
import { startWebServer } from './web.mjs';

/** The one client the pre-registered authorization server knows (public: no secret). */
export const PREREGISTERED_CLIENT_ID = 'demo-app';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

function port(value, envName, fallback) {
  const v = value ?? process.env[envName];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`bad port for ${envName}: ${v}`);
  return n;
}

/**
 * Start the authorization server, the MCP server and the web server.
 * @param {object} [o]
 * @param {number} [o.asPort] default env MCP_OAUTH_AS_PORT or 9410
 * @param {number} [o.mcpPort] default env MCP_OAUTH_MCP_PORT or 9411
 * @param {number} [o.webPort] default env MCP_OAUTH_WEB_PORT or 9412
 * @param {string} [o.webRoot] default <repo>/www
 * @param {string} [o.pkgDir] default env MCP_OAUTH_PKG_DIR or <repo>/pkg
 * @param {boolean} [o.quiet] no logging
 * @param {boolean} [o.autoApprove] the AS approves without showing its page
 * @param {number} [o.accessTokenTTL] seconds, default 600
 * @param {number} [o.refreshTokenTTL] seconds, default 14 days
 * @param {boolean} [o.dpop] the MCP server takes DPoP and says so in its metadata (default off:
 *   Bearer only); the AS has DPoP on in every mode, as oidc-provider ships it
 * @param {boolean} [o.dpopNonce] with dpop: both servers demand a nonce in every proof
 * @param {boolean} [o.preregistered] also start the pre-registered pair, default off
 * @param {boolean} [o.cacheable] the web server lets the browser cache its files
 * @param {number} [o.closedAsPort] default env MCP_OAUTH_CLOSED_AS_PORT or 9413
 * @param {number} [o.closedMcpPort] default env MCP_OAUTH_CLOSED_MCP_PORT or 9414
 */
export async function startStack({
  asPort, mcpPort, webPort, webRoot, pkgDir, quiet = false,
  autoApprove = false, accessTokenTTL, refreshTokenTTL, dpop = false, dpopNonce = false,
  preregistered = false, closedAsPort, closedMcpPort, cacheable = false,
} = {}) {
  const ports = {
    as: port(asPort, 'MCP_OAUTH_AS_PORT', 9410),
    mcp: port(mcpPort, 'MCP_OAUTH_MCP_PORT', 9411),
    web: port(webPort, 'MCP_OAUTH_WEB_PORT', 9412),
    closedAs: port(closedAsPort, 'MCP_OAUTH_CLOSED_AS_PORT', 9413),
    closedMcp: port(closedMcpPort, 'MCP_OAUTH_CLOSED_MCP_PORT', 9414),
  };
  const asUrl = `http://127.0.0.1:${ports.as}`;
  const mcpOrigin = `http://127.0.0.1:${ports.mcp}`;
  const resource = `${mcpOrigin}/mcp`;
  const mcpUrl = resource;
  const webUrl = `http://127.0.0.1:${ports.web}`;
  const events = createEvents();

  const started = [];
  const wire = { delayMs: 0 };
  let closed = null;
  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    await Promise.allSettled(started.reverse().map((s) => s.close()));
    // Let keep-alive client sockets in this process (fetch's pool) see the close before a caller
    // starts another stack on the same ports; otherwise its next request can hit a dead socket.
    await new Promise((resolve) => { setTimeout(resolve, 50); });
  }

  try {
    started.push(await startAuthorizationServer({
      port: ports.as, resource, events, autoApprove, accessTokenTTL, refreshTokenTTL, dpopNonce, wire, quiet,
    }));
    started.push(await startMcpServer({ port: ports.mcp, issuer: asUrl, events, dpop, dpopNonce, wire, quiet }));
    if (preregistered) {
      closed = {
        asUrl: `http://127.0.0.1:${ports.closedAs}`,
        mcpUrl: `http://127.0.0.1:${ports.closedMcp}/mcp`,
        clientId: PREREGISTERED_CLIENT_ID,
      };
      // every callback page this origin serves: the demo's and the example apps'
      const redirectUris = ['', 'apps/plain/', 'apps/csp/', 'apps/vite/'].map((p) => `${webUrl}/${p}callback.html`);
      started.push(await startAuthorizationServer({
        port: ports.closedAs, resource: closed.mcpUrl, events, autoApprove, accessTokenTTL, refreshTokenTTL, quiet,
        registration: false,
        clients: [{
          client_id: PREREGISTERED_CLIENT_ID,
          client_name: 'mcp-oauth-wasm demo (pre-registered)',
          redirect_uris: redirectUris,
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
        }],
      }));
      started.push(await startMcpServer({
        port: ports.closedMcp, issuer: closed.asUrl, events, quiet, name: 'mcp-oauth-wasm pre-registered-only server',
      }));
    }
    started.push(await startWebServer({
      port: ports.web,
      webRoot: webRoot ?? path.join(repoRoot, 'www'),
      appsRoot: path.join(repoRoot, 'tests', 'apps'),
      pkgDir: pkgDir ?? (process.env.MCP_OAUTH_PKG_DIR ? path.resolve(process.env.MCP_OAUTH_PKG_DIR) : path.join(repoRoot, 'pkg')),
      config: { mcpUrl, asUrl, resource, preregistered: closed },
      cacheable,
    }));
  } catch (err) {
    await stop();
    throw err;
  }

  // the authorization server itself (its provider and http server), for tests that stop it
  // for a while or act on its grants
  const authorizationServer = started[0];
  /** An added delay before every response of the authorization server and the MCP server. */
  const setResponseDelay = (ms) => { wire.delayMs = ms; };
  return { asUrl, mcpUrl, webUrl, resource, events, stop, authorizationServer, preregistered: closed, setResponseDelay };
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const usage = 'usage: node tests/stack/stack.mjs [--auto-approve] [--dpop] [--token-ttl=SECONDS]';
  const opts = { autoApprove: false, dpop: false, accessTokenTTL: undefined };
  for (const arg of process.argv.slice(2)) {
    const [name, value] = arg.split('=', 2);
    if (arg === '--auto-approve') opts.autoApprove = true;
    else if (arg === '--dpop') opts.dpop = true;
    else if (name === '--token-ttl' && /^[1-9][0-9]*$/.test(value ?? '')) opts.accessTokenTTL = Number(value);
    else {
      console.error(`unknown or malformed argument: ${arg}\n${usage}`);
      process.exit(2);
    }
  }
  const stack = await startStack({ ...opts, preregistered: true });
  const ttl = opts.accessTokenTTL ?? 600;
  console.log(`authorization server       ${stack.asUrl}  (open registration${opts.autoApprove ? ', approves without asking' : ''})`);
  console.log(`MCP server                 ${stack.mcpUrl}`);
  console.log(`pre-registered AS          ${stack.preregistered.asUrl}  (no registration; client id ${stack.preregistered.clientId})`);
  console.log(`pre-registered MCP server  ${stack.preregistered.mcpUrl}`);
  console.log(`access tokens last ${ttl} s${opts.dpop ? ', DPoP on' : ''}`);
  console.log(`\nopen ${stack.webUrl}   (the OAuth flow debugger; Ctrl-C to stop)`);
  let stopping = false;
  const shutdown = async (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping...`);
    const timer = setTimeout(() => {
      console.error('shutdown took too long, exiting');
      process.exit(1);
    }, 5000);
    await stack.stop();
    clearTimeout(timer);
    process.exit(0);
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}
