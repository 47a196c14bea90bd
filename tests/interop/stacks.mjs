// The interop suite's stacks, in the order they run (each module: tests/interop/STACKS.md).
export const STACK_IDS = ['oidc-provider', 'python-sdk', 'fastmcp', 'better-auth', 'cloudflare'];

export const loadStack = (id) => import(`./stacks/${id}.mjs`);
