// A minimal MCP client over Streamable HTTP (JSON-RPC over POST; JSON or SSE answers), sending
// through a `fetch` the library authorizes: `auth.fetchFor(serverUrl)`. Enough for the debugger to
// list tools and call one; an app would use the MCP SDK's Client (see the README).

const PROTOCOL_VERSION = '2025-06-18';

export class McpError extends Error {
  constructor(message, { status, rpcError } = {}) {
    super(message);
    this.name = 'McpProtocolError';
    this.status = status;
    this.rpcError = rpcError;
  }
}

/** The JSON-RPC response with `id` among the `data:` lines of an SSE body. */
function fromEventStream(text, id) {
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (!data) continue;
    const message = JSON.parse(data);
    if (message.id === id) return message;
  }
  throw new McpError('the event stream ended without a response');
}

export class McpSession {
  /** @param {(input: string, init?: RequestInit) => Promise<Response>} fetchFn */
  constructor(url, fetchFn) {
    this.url = url;
    this.fetch = fetchFn;
    this.sessionId = null;
    this.protocolVersion = null;
    this.nextId = 1;
    this.ready = null;
  }

  async post(message) {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    if (this.sessionId) headers['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion) headers['mcp-protocol-version'] = this.protocolVersion;
    const res = await this.fetch(this.url, { method: 'POST', headers, body: JSON.stringify(message) });
    this.sessionId = res.headers.get('mcp-session-id') ?? this.sessionId;
    if (message.id === undefined) {
      if (!res.ok) throw new McpError(`${message.method}: HTTP ${res.status}`, { status: res.status });
      return null;
    }
    if (!res.ok) throw new McpError(`${message.method}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`, { status: res.status });
    const reply = (res.headers.get('content-type') ?? '').includes('text/event-stream')
      ? fromEventStream(await res.text(), message.id)
      : await res.json();
    if (reply.error) throw new McpError(`${message.method}: ${reply.error.message} (${reply.error.code})`, { rpcError: reply.error });
    return reply.result;
  }

  request(method, params = {}) {
    return this.post({ jsonrpc: '2.0', id: this.nextId++, method, params });
  }

  /** initialize + notifications/initialized, once per session (again after a failure). */
  initialize() {
    this.ready ??= (async () => {
      const result = await this.request('initialize', {
        protocolVersion: PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'mcp-oauth-wasm flow debugger', version: '0.1.0' },
      });
      this.protocolVersion = result.protocolVersion;
      await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
      return result;
    })().catch((err) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  async listTools() {
    await this.initialize();
    return (await this.request('tools/list')).tools ?? [];
  }

  async callTool(name, args) {
    await this.initialize();
    return this.request('tools/call', { name, arguments: args });
  }
}

/** Example arguments for a tool's input schema: something to edit, not a blank box. */
export function exampleArguments(schema) {
  const out = {};
  for (const [name, prop] of Object.entries(schema?.properties ?? {})) {
    const type = Array.isArray(prop.type) ? prop.type[0] : prop.type;
    out[name] = prop.default ?? ({ string: 'hello', number: 2, integer: 2, boolean: true, array: [], object: {} })[type] ?? null;
  }
  return out;
}
