// Provenance for every figure the render service writes: the prompt writer for the XMP, the C2PA
// manifest (signed with the configured or the local identity) and the prompt log row. Licences are read
// once per file path and kept; the identity is loaded once per process.
import { basename, dirname, relative, sep } from 'node:path';
import type { OutputProvenance } from '../render/OutputProvenance';
import type { RenderJob } from '../render/renderJob';
import { readFileBounded } from '../io/readBounded';
import { canonicalJson } from '../scene/recipe';
import { buildManifestDefinition, MODELS_ASSERTION, type IngredientFile, type ModelIdentity } from './c2paManifest';
import { loadC2paLibrary } from './c2paLibrary';
import { readC2pa } from './readC2pa';
import { componentLicence, sceneLicence } from '../licence/licenceDiagnostics';
import { findLockfileRoot } from '../licence/lockedLicence';
import type { LicenceReading } from '../licence/modelLicence';
import { hasC2paChunk, idatSha256, withoutC2paChunk } from './pngC2paChunk';
import { appendPromptLog, gitAuthor, sha256Hex } from './promptLog';
import { signPng } from './signPng';
import { loadSigningIdentity, type SigningIdentity, type SigningIdentityOptions } from './signingIdentity';

export interface ProvenanceSettings {
  /** Embed a signed C2PA manifest (default true). */
  readonly c2pa?: boolean;
  readonly identity?: SigningIdentityOptions;
  /** The prompt writer's name (default: the git author of the scene's folder). */
  readonly promptWriter?: string;
  /** Append a row to the project's prompt log per render (default true). */
  readonly promptLog?: boolean;
}

/** The largest existing figure compared for reuse (bigger ones are simply signed again). */
const MAX_REUSED_BYTES = 256 * 1024 * 1024;

/**
 * The figure already on disk when it is exactly what this render would write apart from the C2PA chunk
 * (c2pa-rs salts every claim randomly), and its manifest is valid, by the same signer, and states the
 * same claim label (recipe hash + image digest) and model identities: signing again would only change the
 * salts. Reusing it makes a forced re-render on the same machine byte-identical, manifest included.
 */
async function keptSignature(output: string, png: Buffer, definition: Record<string, unknown>, identity: SigningIdentity): Promise<Buffer | undefined> {
  let existing: Buffer;
  try {
    existing = await readFileBounded(output, MAX_REUSED_BYTES, 'PNG');
  } catch {
    return undefined;
  }
  if (!hasC2paChunk(existing) || !withoutC2paChunk(existing).equals(png)) return undefined;
  const report = await readC2pa(existing, 'image/png');
  const signedModels = (definition.assertions as { label: string; data: unknown }[]).find((a) => a.label === MODELS_ASSERTION)?.data;
  const sameSigner = report.signer?.commonName !== undefined && identity.subject.split(', ').includes(`CN=${report.signer.commonName}`);
  const same = report.state !== 'invalid' && report.state !== 'unreadable' && report.label === definition.label && sameSigner && report.models !== undefined && canonicalJson(report.models) === canonicalJson(signedModels);
  return same ? existing : undefined;
}

export class FigureProvenance implements OutputProvenance {
  private identity?: Promise<SigningIdentity>;
  private readonly licences = new Map<string, Promise<LicenceReading>>();
  private readonly authors = new Map<string, Promise<string | undefined>>();

  constructor(readonly settings: ProvenanceSettings = {}) {}

  /** The signing identity (created on first use when it is the local one). */
  signingIdentity(): Promise<SigningIdentity> {
    this.identity ??= loadSigningIdentity(this.settings.identity).catch((error: unknown) => {
      this.identity = undefined;
      throw error;
    });
    return this.identity;
  }

  promptWriter(job: RenderJob): Promise<string | undefined> {
    if (this.settings.promptWriter) return Promise.resolve(this.settings.promptWriter);
    const dir = dirname(job.recipe.scene);
    let author = this.authors.get(dir);
    if (!author) this.authors.set(dir, (author = gitAuthor(dir)));
    return author;
  }

  /** By the precedence of licence/licenceDiagnostics.ts: lockfile entry, then model card / modelspec. */
  private licence(job: RenderJob, ref: string, path: string, folder: boolean): Promise<LicenceReading> {
    const root = findLockfileRoot(job.recipe.scene);
    const key = `${root ?? ''}\n${ref}\n${path}`;
    let reading = this.licences.get(key);
    if (!reading) this.licences.set(key, (reading = componentLicence(ref, path, folder, root)));
    return reading;
  }

  /** The model, LoRAs, ControlNets and embeddings with their hashes and licences. */
  async modelIdentities(job: RenderJob): Promise<ModelIdentity[]> {
    const { recipe, metadata } = job;
    const out: ModelIdentity[] = [{ role: 'model', name: metadata.model.name, sha256: metadata.model.hash, licence: (sceneLicence(recipe) ?? (await this.licence(job, recipe.model.ref, recipe.model.path, true))).id }];
    for (const [i, lora] of recipe.loras.entries()) out.push({ role: 'lora', name: metadata.loras[i].file, sha256: metadata.loras[i].hash, licence: (await this.licence(job, lora.ref, lora.path, false)).id });
    for (const [i, c] of metadata.control.entries()) {
      // A ControlNet the scene names has its own licence; the model folder's own ControlNets share the model's.
      const net = recipe.control[i]?.net;
      const licence = net ? await this.licence(job, net.ref, net.path, true) : await this.licence(job, recipe.model.ref, job.model.dir, true);
      out.push({ role: 'controlnet', name: c.net.folder, sha256: c.net.hash, licence: licence.id });
    }
    for (const e of metadata.embeddings ?? []) out.push({ role: 'embedding', name: e.file, sha256: e.hash, licence: 'unknown' });
    return out;
  }

  async sign(png: Buffer, job: RenderJob): Promise<{ png: Buffer; warning?: string }> {
    if (this.settings.c2pa === false) return { png };
    try {
      await loadC2paLibrary();
    } catch (error) {
      // No binary for this platform (the binding ships linux-x64): the figure is written unsigned, and said so.
      return { png, warning: `${error instanceof Error ? error.message : String(error)}; the figure has no C2PA manifest` };
    }
    const identity = await this.signingIdentity();
    const definition = buildManifestDefinition({ recipe: job.metadata, title: basename(job.output), models: await this.modelIdentities(job), idatSha256: idatSha256(png) });
    const kept = await keptSignature(job.output, png, definition, identity);
    if (kept) return { png: kept };
    const ingredients: IngredientFile[] = [
      ...(job.recipe.init ? [{ path: job.recipe.init.path, title: job.recipe.init.ref, role: 'init' as const }] : []),
      ...job.recipe.control.map((c) => ({ path: c.path, title: c.ref, role: 'hint' as const })),
    ];
    return { png: await signPng(png, definition, identity, ingredients) };
  }

  async written(job: RenderJob, png: Buffer, projectRoot: string | undefined): Promise<void> {
    if (this.settings.promptLog === false || !projectRoot) return;
    // A figure written outside the project (an absolute output path elsewhere) is not logged in it.
    if (relative(projectRoot, job.output).split(sep)[0] === '..') return;
    await appendPromptLog(projectRoot, { time: new Date(), recipe: job.metadata, outputPath: job.output, outputSha256: sha256Hex(png), who: (await this.promptWriter(job)) ?? '' });
  }
}
