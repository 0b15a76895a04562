// One loopback fake ComfyUI in its own process for bench:pool (so servers render in parallel, as real
// ones on separate machines or GPUs would). Prints `port <n>` once listening; stops on SIGTERM.
import { FakeComfyUI } from '../test/backends/fakeComfyUI';

void (async () => {
  const server = await new FakeComfyUI({ checkpoints: ['tiny-shapes'] }).start();
  process.stdout.write(`port ${server.port}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
})();
