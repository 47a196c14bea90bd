// The npm package as it would be published: everything the glue loads and package.json points
// at is among the files `npm pack` takes (a file left out only fails in the app that installs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pkgDir as pkg } from './helpers.mjs';

test('R32 npm pack takes every file the glue imports or package.json names', () => {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkg, encoding: 'utf8' }));
  const files = new Set(packed.files.map((f) => f.path));
  const manifest = JSON.parse(readFileSync(path.join(pkg, 'package.json'), 'utf8'));
  const glue = readFileSync(path.join(pkg, manifest.module), 'utf8');

  const imported = [...glue.matchAll(/\bfrom\s*["']\.\/([^"']+)["']/g)].map((m) => m[1]);
  assert.ok(imported.some((f) => f.startsWith('snippets/')), 'the glue imports the shell snippet');
  const wasm = [...glue.matchAll(/new URL\(\s*["']([^"']+\.wasm)["']/g)].map((m) => m[1]);
  assert.deepEqual(wasm, ['mcp_oauth_wasm_bg.wasm'], 'the glue loads the wasm next to it');
  const named = [manifest.main, manifest.module, manifest.types, ...Object.values(manifest.exports).flatMap((e) => (typeof e == 'string' ? [e] : Object.values(e)))]
    .map((f) => f.replace(/^\.\//, ''));
  for (const f of [...imported, ...wasm, ...named]) assert.ok(files.has(f), `${f} is not in the packed files: ${[...files].join(', ')}`);
});
