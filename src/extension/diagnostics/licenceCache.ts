// The licences of the model and LoRAs a scene uses, kept for a short while so the per-keystroke check
// can show licence diagnostics without reading model cards and safetensors headers on every keystroke.
// A miss starts the (async) read and says so; the caller checks again when it is done.
import { sceneLicences, type ComponentLicence, type SceneAnalysis } from '../../engine/editor';

type ResolvedSceneLike = Pick<NonNullable<SceneAnalysis['resolved']>, 'recipe'>;

/** How long a reading is trusted; a model card edited on disk shows after this. */
const FRESH_MS = 30_000;

export class LicenceCache {
  private readonly entries = new Map<string, { at: number; licences?: readonly ComponentLicence[]; loading?: Promise<void> }>();

  private key(resolved: ResolvedSceneLike): string {
    // The scene's folder finds its imgprompt.lock; its `license:` overrides the model's.
    const { recipe } = resolved;
    return [recipe.scene, recipe.license ?? '', recipe.model.path, ...recipe.loras.map((l) => l.path)].join('\n');
  }

  /** The licences when read recently; otherwise undefined, and `onLoaded` runs once they are. */
  get(resolved: ResolvedSceneLike, onLoaded: () => void): readonly ComponentLicence[] | undefined {
    const key = this.key(resolved);
    const entry = this.entries.get(key);
    if (entry?.licences && Date.now() - entry.at < FRESH_MS) return entry.licences;
    if (!entry?.loading) {
      const loading = sceneLicences(resolved).then(
        (licences) => void this.entries.set(key, { at: Date.now(), licences }),
        // Unreadable files say nothing (the model loader reports them); no retry loop on every check.
        () => void this.entries.set(key, { at: Date.now(), licences: [] }),
      );
      this.entries.set(key, { at: Date.now(), loading, licences: entry?.licences });
      void loading.then(onLoaded);
    }
    return entry?.licences;
  }
}
