// Static web server for the demo page: `www/` at `/`, the built npm package (`pkg/`) at `/pkg/`,
// the example apps of tests/apps/ at `/apps/` (the Vite app's build, tests/apps/vite/dist/, at
// `/apps/vite/`), and `/config.json` telling the page where the local servers are.
// Every HTML page is served with a strict CSP (no inline script, no eval; wasm allowed), so the
// demo and the apps prove the package needs nothing more (R36).

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { listen } from './listen.mjs';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Resolve `rel` (URL path below a mount, still percent-encoded) inside `root`, or null. */
function safeJoin(root, rel) {
  let decoded;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const full = path.resolve(root, `.${path.posix.normalize(`/${decoded}`)}`);
  if (full !== root && !full.startsWith(root + path.sep)) return null;
  return full;
}

export const CSP = "script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'";

/**
 * @param {object} o
 * @param {number} o.port
 * @param {string} o.webRoot absolute path of www/
 * @param {string} o.pkgDir absolute path of pkg/
 * @param {string} [o.appsRoot] absolute path of tests/apps/
 * @param {object} o.config served as /config.json
 * @param {boolean} [o.cacheable] let the browser cache files for an hour (the benchmark's
 *   "served from cache"); by default nothing is cached, so a rebuilt package is always seen
 */
export async function startWebServer({ port, webRoot, pkgDir, appsRoot, config, cacheable = false }) {
  const origin = `http://127.0.0.1:${port}`;
  // URL prefix -> directory, the longest prefix first
  const mounts = [['/pkg/', path.resolve(pkgDir)]];
  if (appsRoot) {
    mounts.push(['/apps/vite/', path.resolve(appsRoot, 'vite', 'dist')]);
    mounts.push(['/apps/', path.resolve(appsRoot)]);
  }
  mounts.push(['/', path.resolve(webRoot)]);

  function send(res, status, type, body) {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    res.end(body);
  }

  async function handle(req, res) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const { pathname } = new URL(req.url, origin);
    if (pathname === '/config.json') {
      return send(res, 200, MIME['.json'], JSON.stringify(config));
    }
    const [prefix, root] = mounts.find(([p]) => pathname.startsWith(p) || `${pathname}/` === p);
    const file = safeJoin(root, pathname.slice(prefix.length - 1));
    if (!file) return send(res, 400, 'text/plain; charset=utf-8', 'bad path\n');

    let st = await stat(file).catch(() => null);
    let served = file;
    if (st?.isDirectory()) {
      if (!pathname.endsWith('/')) {
        res.writeHead(301, { Location: `${pathname}/` });
        return res.end();
      }
      served = path.join(file, 'index.html');
      st = await stat(served).catch(() => null);
    }
    if (!st?.isFile()) {
      const hint = pathname.startsWith('/pkg/') ? ' (is the package built? run `make pkg`)'
        : pathname.startsWith('/apps/vite/') ? ' (the Vite app is built by its test)' : '';
      return send(res, 404, 'text/plain; charset=utf-8', `not found: ${pathname}${hint}\n`);
    }
    const type = MIME[path.extname(served).toLowerCase()] ?? 'application/octet-stream';
    const headers = {
      'Content-Type': type,
      'Content-Length': st.size,
      'Cache-Control': cacheable ? 'max-age=3600' : 'no-store',
      'X-Content-Type-Options': 'nosniff',
    };
    if (type.startsWith('text/html')) headers['Content-Security-Policy'] = CSP;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return res.end();
    createReadStream(served).on('error', () => res.destroy()).pipe(res);
    return undefined;
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'server error\n');
      else res.destroy();
    });
  });
  await listen(server, port);
  return {
    url: origin,
    server,
    async close() {
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
