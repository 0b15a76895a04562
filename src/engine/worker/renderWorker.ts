// Worker-thread entry of the engine: runs renders off the caller's thread. Filled in by the engine work.
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', (message: unknown) => {
  parentPort?.postMessage({ type: 'error', message: `render worker: unsupported message ${JSON.stringify(message)}` });
});
