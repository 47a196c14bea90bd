// The MCP Python SDK (PyPI `mcp`), its `examples/servers/simple-auth` split: an authorization
// server built from `mcp.server.auth` (create_auth_routes: dynamic registration, PKCE S256,
// refresh_token grant, /revoke; a login form with the example's demo credentials; RFC 7662
// /introspect) on 9600, and the SDK's MCPServer as a separate resource server on 9601 (Streamable
// HTTP at /mcp, RFC 9728 metadata, tokens checked by introspection against the AS). Both run as
// tests/interop/python/mcp_sdk_stack.py on .tools/interop-venv. No DPoP (none listed).
//
// CORS: the AS's metadata, /token, /register and /revoke send `Access-Control-Allow-Origin: *`, as
// does the RS's protected-resource metadata; the RS's /mcp sends none (nor exposes
// WWW-Authenticate / Mcp-Session-Id), so its origin is in `corsOrigins`.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const python = path.join(repoRoot, '.tools', 'interop-venv', 'bin', 'python');
const script = path.join(repoRoot, 'tests', 'interop', 'python', 'mcp_sdk_stack.py');

export const info = { id: 'python-sdk', name: 'MCP Python SDK (mcp.server.auth)', version: installedVersion('mcp'), https: false };

const TTL = 5;
const AS_PORT = 9600;
const RS_PORT = 9601;

export async function start(o = {}) {
  const log = o.log ?? ((...a) => console.error(...a));
  const asUrl = `http://127.0.0.1:${AS_PORT}`;
  const mcpUrl = `http://127.0.0.1:${RS_PORT}/mcp`;
  const procs = [];
  const stop = async () => { await Promise.allSettled(procs.reverse().map((p) => p.stop())); };
  try {
    await portsFree([`${asUrl}/.well-known/oauth-authorization-server`, `http://127.0.0.1:${RS_PORT}/.well-known/oauth-protected-resource/mcp`]);
    procs.push(spawnPython('python-sdk AS', [script, 'as', '--port', String(AS_PORT), '--access-token-ttl', String(TTL)], log));
    await procs[0].ready(`${asUrl}/.well-known/oauth-authorization-server`);
    procs.push(spawnPython('python-sdk RS', [script, 'rs', '--port', String(RS_PORT), '--auth-server', asUrl], log));
    await procs[1].ready(`http://127.0.0.1:${RS_PORT}/.well-known/oauth-protected-resource/mcp`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    mcpUrl,
    corsOrigins: [`http://127.0.0.1:${RS_PORT}`],
    // the example's login page (GET /login?state=…): its fields come filled with the demo credentials
    signIn: async (popup) => {
      await popup.waitForSelector('input[name="username"]', { timeout: 15000 });
      await popup.fill('input[name="username"]', 'demo_user');
      await popup.fill('input[name="password"]', 'demo_password');
      await popup.click('button[type="submit"]', { noWaitAfter: true });
    },
    tool: { name: 'get_time', arguments: {}, expect: /current_time/ },
    accessTokenTtl: TTL,
    // the first request, for the refresh token, already fails; oauthError 'invalid_request',
    // description 'client_secret: Field required'
    revoke: {
      code: 'revocation_failed',
      // R38: the message quotes what the server said
      message: /^the revocation endpoint refused \(HTTP 400\); the server said "invalid_request: client_secret: Field required"$/,
      bug: "the Python SDK's /revoke requires client_secret even from a public client (python-sdk issue #3508): "
        + 'its RevocationRequest declares `client_secret: str | None` with no default, so a request without the '
        + 'field gets 400 invalid_request "client_secret: Field required" before the token is looked at',
    },
    output: () => procs.map((p) => p.output()).join('\n'),
    stop,
  };
}

// ---- child processes: output kept (output()) and passed line by line to `log` ----

function installedVersion(dist) {
  const lib = path.join(repoRoot, '.tools', 'interop-venv', 'lib');
  try {
    for (const py of readdirSync(lib)) {
      const site = path.join(lib, py, 'site-packages');
      const found = readdirSync(site).find((d) => d.startsWith(`${dist}-`) && d.endsWith('.dist-info') && /^\d/.test(d.slice(dist.length + 1)));
      if (found) return found.slice(dist.length + 1, -'.dist-info'.length);
    }
  } catch { /* no venv yet: the pin */ }
  const req = readFileSync(path.join(repoRoot, 'tests', 'interop', 'python', 'requirements.txt'), 'utf8');
  return new RegExp(`^${dist}==(\\S+)`, 'm').exec(req)?.[1] ?? 'unknown';
}

async function portsFree(urls) {
  for (const url of urls) {
    const busy = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false);
    if (busy) throw new Error(`${url} already answers: another server holds the port`);
  }
}

function spawnPython(name, args, log) {
  const lines = [];
  const child = spawn(python, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  const keep = (chunk) => { for (const l of String(chunk).split('\n')) if (l) { lines.push(l); log(`${name}: ${l}`); } };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => { exited = { code, signal }; resolve(); });
    child.on('error', (err) => { lines.push(String(err)); exited = { code: -1, signal: null }; resolve(); });
  });
  const onExit = () => { try { child.kill('SIGKILL'); } catch { /* gone */ } };
  process.on('exit', onExit);
  const output = () => `--- ${name} (${args.join(' ')}) ---\n${lines.join('\n')}`;
  return {
    output,
    async ready(url, timeoutMs = 30000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        if (exited) throw new Error(`${name} exited (${exited.code ?? exited.signal}) before ${url} answered`);
        const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
        if (ok) { log(`${name} ready (pid ${child.pid})`); return; }
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`${name}: ${url} did not answer within ${timeoutMs} ms`);
    },
    async stop() {
      process.off('exit', onExit);
      if (exited) log(`${name} had exited (${exited.code ?? exited.signal}) before stop()`);
      else {
        child.kill('SIGTERM');
        const killed = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exit;
        clearTimeout(killed);
      }
    },
  };
}
