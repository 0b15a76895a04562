// Test hook, preloaded into the CLI (`node --import`): every write into a writeFileAtomic temporary
// announces itself on stderr (`slow write: PATH`) and then waits SLOW_WRITE_MS (default 2000), so a test
// can signal the process while the temporary exists. Patches node:fs/promises.open, which the CommonJS
// bundle calls through this same module object.
import fsp from 'node:fs/promises';

const delayMs = Number(process.env.SLOW_WRITE_MS ?? 2000);
const open = fsp.open;
fsp.open = async function openSlowly(path, ...rest) {
  const handle = await open.call(this, path, ...rest);
  if (String(path).endsWith('.tmp')) {
    const write = handle.write.bind(handle);
    handle.write = async (...args) => {
      process.stderr.write(`slow write: ${String(path)}\n`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return write(...args);
    };
  }
  return handle;
};
