// The generated .d.ts against the JS API contract: names, optional parameters, no `any` in the
// public class. (The contract fixes these; apps outside this repo type-check against them.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pkgDir } from './helpers.mjs';

const dts = readFileSync(path.join(pkgDir, 'mcp_oauth_wasm.d.ts'), 'utf8');
const cls = dts.slice(dts.indexOf('export class McpAuth'), dts.indexOf('\n}', dts.indexOf('export class McpAuth')));

test('R32 the .d.ts types every method of the contract, optional parameters optional, no any', () => {
  for (const sig of [
    'constructor(options: McpAuthOptions);',
    'discover(serverUrl: string): Promise<ServerInfo>;',
    'authorize(serverUrl: string, opts?: AuthorizeOptions): Promise<Status>;',
    'handleCallback(url?: string | null): Promise<CallbackResult>;',
    'getAccessToken(serverUrl: string): Promise<string>;',
    'fetch(serverUrl: string, input?: RequestInfo | URL, init?: RequestInit): Promise<Response>;',
    'fetchFor(serverUrl: string): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;',
    'status(serverUrl: string): Status;',
    'list(): Status[];',
    'revoke(serverUrl: string, opts?: RevokeOptions): Promise<void>;',
    'forget(serverUrl: string): void;',
    'subscribe(listener: (event: McpAuthEvent) => void): () => void;',
  ]) {
    assert.ok(cls.includes(sig), `missing or different in the .d.ts: ${sig}`);
  }
  assert.ok(!/\bany\b/.test(cls.replace(/\/\*[\s\S]*?\*\//g, '')), 'no `any` in McpAuth');
  for (const type of ['Status', 'ServerInfo', 'CallbackResult', 'McpAuthError', 'McpAuthErrorCode', 'McpAuthOptions']) {
    assert.match(dts, new RegExp(`export (type|interface) ${type}\\b`), `${type} is exported`);
  }
});
