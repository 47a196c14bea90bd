// The local stack: authorization server (oidc-provider), MCP server, static web server.
//
//   import { startStack } from './tests/stack/stack.mjs';
//   const stack = await startStack({ asPort: 9420, mcpPort: 9421, webPort: 9422, quiet: true });
//   ... stack.events ...
//   await stack.stop();
//
// CLI (what `make demo` runs): `node tests/stack/stack.mjs [--auto-approve] [--dpop]` starts everything,
// prints the URLs and runs until Ctrl-C / SIGTERM.
// Ports: arguments, else env MCP_OAUTH_AS_PORT / MCP_OAUTH_MCP_PORT / MCP_OAUTH_WEB_PORT,
// else 9410 / 9411 / 9412. The package served at /pkg/: env MCP_OAUTH_PKG_DIR, else <repo>/pkg.
// Everything binds 127.0.0.1 only.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAuthorizationServer } from './as.mjs';
import { createEvents } from './events.mjs';
import { startMcpServer } from './mcp.mjs';
import { startWebServer } from './web.mjs';

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
 * @param {boolean} [o.dpop] DPoP (RFC 9449) at the AS and the MCP server, default off
 */
export async function startStack({
  asPort, mcpPort, webPort, webRoot, pkgDir, quiet = false,
  autoApprove = false, accessTokenTTL, refreshTokenTTL, dpop = false,
} = {}) {
  const ports = {
    as: port(asPort, 'MCP_OAUTH_AS_PORT', 9410),
    mcp: port(mcpPort, 'MCP_OAUTH_MCP_PORT', 9411),
    web: port(webPort, 'MCP_OAUTH_WEB_PORT', 9412),
  };
  const asUrl = `http://127.0.0.1:${ports.as}`;
  const mcpOrigin = `http://127.0.0.1:${ports.mcp}`;
  const resource = `${mcpOrigin}/mcp`;
  const mcpUrl = resource;
  const webUrl = `http://127.0.0.1:${ports.web}`;
  const events = createEvents();

  const started = [];
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
      port: ports.as, resource, events, autoApprove, accessTokenTTL, refreshTokenTTL, dpop, quiet,
    }));
    started.push(await startMcpServer({ port: ports.mcp, issuer: asUrl, events, dpop, quiet }));
    started.push(await startWebServer({
      port: ports.web,
      webRoot: webRoot ?? path.join(repoRoot, 'www'),
      pkgDir: pkgDir ?? (process.env.MCP_OAUTH_PKG_DIR ? path.resolve(process.env.MCP_OAUTH_PKG_DIR) : path.join(repoRoot, 'pkg')),
      config: { mcpUrl, asUrl, resource },
    }));
  } catch (err) {
    await stop();
    throw err;
  }

  // the authorization server itself (its provider and http server), for tests that stop it
  // for a while or act on its grants
  const authorizationServer = started[0];
  return { asUrl, mcpUrl, webUrl, resource, events, stop, authorizationServer };
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  const known = ['--auto-approve', '--dpop'];
  const unknown = args.filter((a) => !known.includes(a));
  if (unknown.length) {
    console.error(`unknown argument(s): ${unknown.join(' ')}\nusage: node tests/stack/stack.mjs [--auto-approve] [--dpop]`);
    process.exit(2);
  }
  const stack = await startStack({ autoApprove: args.includes('--auto-approve'), dpop: args.includes('--dpop') });
  console.log(`authorization server  ${stack.asUrl}`);
  console.log(`MCP server            ${stack.mcpUrl}`);
  console.log(`demo page             ${stack.webUrl}`);
  console.log(`test events           ${stack.asUrl}/__test/events`);
  console.log(`\nopen ${stack.webUrl}\n(Ctrl-C to stop)`);
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
