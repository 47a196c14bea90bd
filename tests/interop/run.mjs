// One or more interop stacks by id, with the stack's output shown as it runs:
//   node tests/interop/run.mjs python-sdk [fastmcp ...]
import { STACK_IDS, loadStack } from './stacks.mjs';
import { runStack } from './harness.mjs';

const ids = process.argv.slice(2).length ? process.argv.slice(2) : STACK_IDS;
let failed = 0;
for (const id of ids) {
  const stack = await loadStack(id);
  try {
    await runStack(stack, {
      report: (step, detail) => console.log(`interop ${id} ${step}: ok — ${detail}`),
      log: (...a) => console.error(`[${id}]`, ...a),
    });
  } catch (err) {
    failed += 1;
    console.log(`interop ${id}: FAIL ${err.message}`);
  }
}
process.exit(failed ? 1 : 0);
