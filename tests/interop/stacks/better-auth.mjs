// better-auth (npm) with its OAuth 2.1 provider plugin `@better-auth/oauth-provider` and its JWT
// plugin, on better-auth's built-in memory adapter, served by Node's http through `toNodeHandler`
// (tests/interop/better-auth/auth-server.mjs, with the minimal sign-in and consent pages the plugin
// redirects to); an MCP SDK Streamable HTTP server on its own port verifying the JWT access tokens
// against better-auth's JWKS with better-auth's own resource-server helpers
// (tests/interop/better-auth/mcp-server.mjs). Configured as better-auth's MCP preset does, with
// the documented DCR fallback enabled; PKCE (S256 only), DPoP (advertised, used on request),
// consent and refresh tokens only for `offline_access` are the plugin's defaults.
//
// better-auth registers web clients only with https redirect URIs on non-loopback hosts (its
// default policy, kept): the harness serves the app on https, with a self-signed certificate it
// makes, under a host name the browser alone maps to 127.0.0.1 (`info.https`).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'better-auth');
const deps = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).dependencies;

export const info = {
  id: 'better-auth',
  name: 'better-auth + @better-auth/oauth-provider',
  version: deps['better-auth'],
  https: true,
};

const AUTH_PORT = 9620;
const MCP_PORT = 9621;
const TTL = 5;
const USER = { email: 'interop@example.com', password: 'interop-password-1', name: 'Interop User' };

/** Spawns `node <script> <json>` in tests/interop/better-auth; resolves once it prints READY. */
function startChild(name, script, config, log) {
  const child = spawn(process.execPath, [script, JSON.stringify(config)], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'development', BETTER_AUTH_TELEMETRY: '0' },
  });
  const output = [];
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not ready after 30 s\n${output.join('\n')}`)), 30_000);
    const onLine = (stream) => (chunk) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        output.push(line);
        log(`${name}${stream === 'stderr' ? ' !' : ''}: ${line}`);
        if (line.startsWith('READY ')) { clearTimeout(timer); resolve(); }
      }
    };
    child.stdout.on('data', onLine('stdout'));
    child.stderr.on('data', onLine('stderr'));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready\n${output.join('\n')}`));
    });
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
  const stop = () => new Promise((resolve) => {
    process.removeListener('exit', onExit);
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
  return { ready, stop, output };
}

export async function start({ appOrigin, log = () => {} }) {
  const authOrigin = `http://127.0.0.1:${AUTH_PORT}`;
  const issuer = `${authOrigin}/api/auth`;
  const mcpUrl = `http://127.0.0.1:${MCP_PORT}/mcp`;
  const children = [];
  const stop = async () => { await Promise.allSettled(children.reverse().map((c) => c.stop())); };
  try {
    const as = startChild('better-auth', 'auth-server.mjs',
      { port: AUTH_PORT, mcpResource: mcpUrl, appOrigin, user: USER, accessTokenTtl: TTL }, log);
    children.push(as);
    await as.ready;
    const mcp = startChild('mcp', 'mcp-server.mjs',
      { port: MCP_PORT, issuer, jwksUrl: `${issuer}/jwks` }, log);
    children.push(mcp);
    await mcp.ready;
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    mcpUrl,
    // better-auth's endpoints send no CORS headers; the MCP server sends its own.
    corsOrigins: [authOrigin],
    // better-auth issues refresh tokens only for offline_access (listed in scopes_supported).
    options: { offlineAccess: true },
    signIn: async (popup) => {
      await popup.waitForURL((u) => u.pathname === '/sign-in');
      await popup.fill('input[name=email]', USER.email);
      await popup.fill('input[name=password]', USER.password);
      await popup.click('#sign-in');
      await popup.waitForURL((u) => u.pathname === '/consent');
      await popup.click('#allow');
    },
    tool: { name: 'echo', arguments: { message: 'interop hello' }, expect: /echo: interop hello/ },
    accessTokenTtl: TTL,
    revoke: { ok: true },
    stop,
  };
}
