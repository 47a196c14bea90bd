// The Python stacks' child processes (python-sdk.mjs, fastmcp.mjs): the interop venv's python,
// each process's output kept (output()) and passed line by line to `log`, readiness awaited by
// polling a URL, and the process stopped (SIGTERM, then SIGKILL) in stop() or when the harness exits.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const python = path.join(repoRoot, '.tools', 'interop-venv', 'bin', 'python');

export function installedVersion(dist) {
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

export async function portsFree(urls) {
  for (const url of urls) {
    const busy = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false);
    if (busy) throw new Error(`${url} already answers: another server holds the port`);
  }
}

export function spawnPython(name, args, log, env = {}) {
  const lines = [];
  const child = spawn(python, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1', ...env },
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
