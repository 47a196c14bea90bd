// `make interop`: every third-party stack of tests/interop/stacks/ at its defaults, driven in
// headless Chromium through the public API (tests/interop/harness.mjs). One test per stack; each
// step prints a line `interop <stack> <step>: ok — <what it showed>`.
//
// R1 R3 R6 R11 R12 R14 R15 R16 R21 R26 R29 R34 R37 R38

import { test } from 'node:test';
import { STACK_IDS, loadStack } from './stacks.mjs';
import { runStack } from './harness.mjs';

for (const id of STACK_IDS) {
  const stack = await loadStack(id);
  test(`R1 R11 R14 R15 R16 R21 R26 R29 R37 interop ${stack.info.name} ${stack.info.version}: discover, register, authorize, tools, refresh, revoke`, { timeout: 180_000 }, async () => {
    await runStack(stack, { report: (step, detail) => console.log(`interop ${id} ${step}: ok — ${detail}`) });
  });
}
