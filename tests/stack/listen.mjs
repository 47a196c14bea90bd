// Starts an http.Server on 127.0.0.1 (never another address) and resolves once it listens.
export function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * A request handler that records every exchange (`http` events: server, method, path, start,
 * end in ms) and, when `wire.delayMs` is set, answers that much later (a network's latency, for
 * the benchmark). `wire` is read per request, so the delay can change while the server runs.
 */
export function onTheWire(name, handler, events, wire = {}) {
  return (req, res) => {
    const start = performance.timeOrigin + performance.now();
    res.on('finish', () => events.push('http', {
      server: name, method: req.method, path: req.url.split('?')[0], start, end: performance.timeOrigin + performance.now(),
    }));
    if (wire.delayMs > 0) setTimeout(() => handler(req, res), wire.delayMs);
    else handler(req, res);
  };
}
