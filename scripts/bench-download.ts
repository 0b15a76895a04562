// Download throughput: imgprompt's hub download (metadata, HEAD, the 302 to the CDN host, the transfer,
// sha256 verification, the atomic rename into the cache) beside `curl -L` fetching the same file from the
// same loopback servers, and beside `curl` followed by `sha256sum` (what a verified curl costs).
// `npm run bench:download`; BENCH_RUNS (default 9) rounds, BENCH_DOWNLOAD_MB (default 256) file size.
// Nine, not five: a round now and then takes 1.5–2× longer for either client (the kernel writing back
// the previous rounds' 268 MB files), and with five rounds two such outliers moved the median.
// The loopback hub runs in a child process so it never shares an event loop with the client measured.
// It answers metadata from digests computed once (as the real hub stores them), so neither curl's
// resolve GET nor our HEAD pays for hashing the file on the server.
// Prints the medians, the throughputs and the ratio to curl (target ≥ 0.8).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pullHfRef } from '../src/engine/hub/pullHf';
import { parseHubRef, type HfRef } from '../src/engine/hub/hubRef';
import { FakeHub, fakeCommit, sha256Hex } from '../test/fakes/fakeHub';
import { median } from './benchStats';

const REPO = 'bench/big';
const FILE = 'unet/model.onnx';

async function serve(): Promise<void> {
  const mb = Number(process.env.BENCH_DOWNLOAD_MB ?? 256);
  const data = randomBytes(Math.round(mb * 1024 * 1024));
  const commit = fakeCommit();
  const hub = new FakeHub();
  hub.addRepo({ repo: REPO, refs: { main: commit }, commits: { [commit]: [{ path: FILE, data }] } });
  await hub.start();
  process.stdout.write(`${JSON.stringify({ hubUrl: hub.hubUrl, size: data.length, sha256: sha256Hex(data) })}\n`);
}

async function measure(): Promise<void> {
  const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 9));
  const server = spawn(process.execPath, ['--import', 'tsx', __filename, '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: server.stdout }).once('line', resolve);
    server.once('exit', (code) => reject(new Error(`the loopback hub exited (${code})`)));
  });
  const { hubUrl, size, sha256 } = JSON.parse(first) as { hubUrl: string; size: number; sha256: string };
  const url = `${hubUrl}/${REPO}/resolve/main/${FILE}`;
  const ref = parseHubRef(`hf:${REPO}/${FILE}`) as HfRef;
  const work = mkdtempSync(join(tmpdir(), 'imgprompt-bench-download-'));
  const ours: number[] = [];
  const curl: number[] = [];
  const curlSha: number[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      // Alternate who goes first so page-cache and CPU frequency effects fall on both alike.
      const order = run % 2 === 0 ? ['ours', 'curl'] : ['curl', 'ours'];
      for (const who of order) {
        const dir = join(work, `${who}-${run}`);
        if (who === 'ours') {
          const started = performance.now();
          const pulled = await pullHfRef(ref, { cacheDir: dir, endpoint: { url: hubUrl, tokenName: 'HF_TOKEN' }, offline: false });
          ours.push(performance.now() - started);
          if (pulled.entry.files[FILE].sha256 !== sha256) throw new Error('imgprompt downloaded the wrong bytes');
        } else {
          const out = `${dir}.bin`;
          let started = performance.now();
          execFileSync('curl', ['-sS', '-L', '--fail', '-o', out, url]);
          const fetched = performance.now() - started;
          curl.push(fetched);
          started = performance.now();
          const sum = execFileSync('sha256sum', [out], { encoding: 'utf8' }).split(' ')[0];
          curlSha.push(fetched + performance.now() - started);
          if (sum !== sha256) throw new Error('curl downloaded the wrong bytes');
        }
        rmSync(dir, { recursive: true, force: true });
        rmSync(`${dir}.bin`, { force: true });
      }
    }
  } finally {
    server.kill();
    rmSync(work, { recursive: true, force: true });
  }
  const mbs = (ms: number) => size / 1e6 / (ms / 1000);
  const row = (name: string, ms: number) => `${name.padEnd(34)} ${ms.toFixed(0).padStart(7)} ms  ${mbs(ms).toFixed(0).padStart(6)} MB/s`;
  console.log(`download of one ${(size / 1e6).toFixed(0)} MB LFS file over loopback (hub 302 → CDN host), median of ${runs}`);
  console.log(row('imgprompt (API, HEAD, GET, sha256)', median(ours)));
  console.log(row('curl -L', median(curl)));
  console.log(row('curl -L + sha256sum', median(curlSha)));
  console.log(`ratio imgprompt / curl throughput: ${(median(curl) / median(ours)).toFixed(2)} (target ≥ 0.80)`);
  console.log(`ratio imgprompt / (curl + sha256sum): ${(median(curlSha) / median(ours)).toFixed(2)}`);
}

if (process.argv.includes('--serve')) void serve();
else
  measure().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
