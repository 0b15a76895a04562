// What the fake render servers render with: our own engine on the embedded tiny model. A request in a
// server's terms (names, sampler, size, files the server holds) is written as a scene in the server's
// scratch project and rendered by a real RenderService, so real pixels flow through the protocol.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRenderService, jobsForScene, resolveScene, type RenderProgress, type RenderService } from '../../src/engine/index';
import type { RGBImage } from '../../src/engine/image/rgbImage';

export const repoRoot = resolve(__dirname, '..', '..');
export const builtinModelsDir = join(repoRoot, 'models');

export interface FakeRenderParams {
  readonly model: string;
  readonly prompt: string;
  readonly negative: string;
  readonly seed: string;
  readonly steps: number;
  readonly cfg: number;
  /** Our sampler name (the fakes translate from their API's names). */
  readonly sampler: string;
  readonly schedule: string;
  readonly width: number;
  readonly height: number;
  readonly loras: readonly { readonly name: string; readonly weight: number }[];
  readonly control: readonly { readonly type: string; readonly image: Buffer; readonly strength: number; readonly start: number; readonly end: number }[];
  readonly init?: { readonly image: Buffer; readonly strength: number };
}

const q = (s: string) => JSON.stringify(s);

export class FakeEngine {
  private readonly dir = mkdtempSync(join(tmpdir(), 'imgprompt-fake-server-'));
  private service?: Promise<RenderService>;
  private count = 0;

  constructor() {
    mkdirSync(join(this.dir, '.git'));
  }

  async render(params: FakeRenderParams, onProgress: (p: RenderProgress) => void, signal: AbortSignal, previews = false): Promise<RGBImage> {
    const service = await (this.service ??= createRenderService({ threads: 1 }));
    const n = ++this.count;
    const lines = [
      `model: ${q(params.model)}`,
      `prompt: ${q(params.prompt)}`,
      `negative: ${q(params.negative)}`,
      `seed: ${params.seed}`,
      `steps: ${params.steps}`,
      `guidance: ${params.cfg}`,
      `sampler: ${params.sampler}`,
      `schedule: ${params.schedule}`,
      `size: { width: ${params.width}, height: ${params.height} }`,
    ];
    if (params.loras.length) lines.push('loras:', ...params.loras.map((l) => `  - { file: ${q(l.name.replace(/\.safetensors$/, ''))}, weight: ${l.weight} }`));
    if (params.control.length) {
      lines.push('control:');
      params.control.forEach((c, i) => {
        const file = `hint-${n}-${i}.png`;
        writeFileSync(join(this.dir, file), c.image);
        lines.push(`  - { type: ${c.type}, image: ${file}, strength: ${c.strength}, start: ${c.start}, end: ${c.end} }`);
      });
    }
    if (params.init) {
      writeFileSync(join(this.dir, `init-${n}.png`), params.init.image);
      lines.push(`init: { image: init-${n}.png, strength: ${params.init.strength} }`);
    }
    const file = join(this.dir, `request-${n}.imgprompt`);
    const text = `${lines.join('\n')}\n`;
    writeFileSync(file, text);
    const resolved = resolveScene(text, { file, projectRoot: this.dir, builtinModelsDir });
    const [job] = await jobsForScene(resolved, this.dir, service.hashes, service.backend.runtimeVersion, signal);
    const rendered = await service.backend.render(job, { signal, onProgress, previews });
    return rendered.image;
  }

  async dispose(): Promise<void> {
    if (this.service) await (await this.service).dispose();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
