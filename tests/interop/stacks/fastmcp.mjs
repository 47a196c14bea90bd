// FastMCP (PyPI `fastmcp`, the 4.x line) with its in-memory OAuth provider
// (fastmcp.server.auth.providers.in_memory.InMemoryOAuthProvider): authorization server and MCP
// server in one process on 9610 (tests/interop/python/fastmcp_stack.py on .tools/interop-venv),
// Streamable HTTP at /mcp, one `echo` tool. The provider auto-approves every authorization request
// (no sign-in or consent page), issues refresh tokens (rotated on use), lists PKCE S256 and no DPoP.
// Dynamic registration and revocation are switched on through the provider's own options; the
// access-token lifetime (3600 s, a module constant the provider has no option for) is set to TTL.
//
// CORS: the AS metadata, /token, /register, /revoke and the protected-resource metadata send
// `Access-Control-Allow-Origin: *`; /mcp sends none, so the (single) origin is in `corsOrigins`.
//
// Known, not hit by this flow (the library refreshes before an access token expires): the provider's
// load_access_token, on meeting an expired access token at /mcp, also deletes the refresh token
// issued with it, so a client that refreshes only after a 401 gets invalid_grant and must sign in again.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const python = path.join(repoRoot, '.tools', 'interop-venv', 'bin', 'python');
const script = path.join(repoRoot, 'tests', 'interop', 'python', 'fastmcp_stack.py');

export const info = { id: 'fastmcp', name: 'FastMCP (InMemoryOAuthProvider)', version: installedVersion('fastmcp'), https: false };

const TTL = 5;
const PORT = 9610;

export async function start(o = {}) {
  const log = o.log ?? ((...a) => console.error(...a));
  const origin = `http://127.0.0.1:${PORT}`;
  const procs = [];
  const stop = async () => { await Promise.allSettled(procs.reverse().map((p) => p.stop())); };
  try {
    await portsFree([`${origin}/.well-known/oauth-authorization-server`]);
    procs.push(spawnPython('fastmcp', [script, '--port', String(PORT), '--access-token-ttl', String(TTL)], log));
    await procs[0].ready(`${origin}/.well-known/oauth-protected-resource/mcp`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    mcpUrl: `${origin}/mcp`,
    corsOrigins: [origin],
    // /authorize redirects straight to the callback: nothing to fill in, only the wait for it
    signIn: async (popup) => {
      if (o.redirectUri) await popup.waitForURL((u) => u.href.startsWith(o.redirectUri), { timeout: 15000 }).catch(() => {});
    },
    tool: { name: 'echo', arguments: { text: 'interop hello' }, expect: /interop hello/ },
    accessTokenTtl: TTL,
    // oauthError 'invalid_request', description 'client_secret: Field required'
    revoke: {
      code: 'revocation_failed',
      // R38: the message quotes what the server said
      message: /^the revocation endpoint refused \(HTTP 400\); the server said "invalid_request: client_secret: Field required"$/,
      bug: "FastMCP mounts the MCP Python SDK's /revoke, which requires client_secret even from a public client "
        + '(python-sdk issue #3508): a request without the field gets 400 invalid_request "client_secret: Field required"',
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
    env: { ...process.env, PYTHONUNBUFFERED: '1', FASTMCP_CHECK_FOR_UPDATES: 'off' },
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
