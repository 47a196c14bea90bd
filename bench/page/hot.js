// The hot path, the same for both sides: `token()` per call, then an authorized fetch of
// tools/list against a plain fetch carrying the same header, interleaved.
export async function hotPath({ url, calls, fetches, token, bearer, authorizedFetch }) {
  let t0 = performance.now();
  for (let i = 0; i < calls; i += 1) await token();
  const tokenUs = ((performance.now() - t0) / calls) * 1000;
  const init = () => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
  });
  let plain = 0;
  let side = 0;
  for (let i = 0; i < fetches; i += 1) {
    t0 = performance.now();
    const a = init();
    a.headers.authorization = `Bearer ${bearer}`;
    await (await fetch(url, a)).text();
    plain += performance.now() - t0;
    t0 = performance.now();
    await (await authorizedFetch(init())).text();
    side += performance.now() - t0;
  }
  return { tokenUs, fetchRatio: side / plain };
}

/** N concurrent tools/list on the side's client: failures and wall time. */
export async function underLoad(client, n) {
  const t0 = performance.now();
  const results = await Promise.allSettled(Array.from({ length: n }, () => client.listTools()));
  return { failures: results.filter((r) => r.status === 'rejected').length, ms: performance.now() - t0 };
}
