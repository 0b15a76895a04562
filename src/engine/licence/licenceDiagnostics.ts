// Licence against purpose for a resolved scene: the model's and each LoRA's licence (modelLicence.ts)
// judged against the scene's `purpose:` (licencePolicy.ts), as diagnostics at the model / LoRA line.
// Async (it reads model cards and safetensors headers), so it runs when a scene is planned, not per keystroke.
// Where a licence comes from, first found wins: the scene's `license:` (the model only), the project's
// imgprompt.lock, the model card / model_index.json / `modelspec.license`, else `unknown`.
import type { SceneDiagnostic, Severity } from '../errors';
import type { ResolvedScene } from '../scene/resolveScene';
import { checkLicence, licenceTerms } from './licencePolicy';
import { findLockfileRoot, lockedLicence } from './lockedLicence';
import { readFileLicence, readModelLicence, type LicenceReading } from './modelLicence';

export interface ComponentLicence {
  readonly what: 'model' | 'lora';
  readonly name: string;
  readonly licence: LicenceReading;
  /** Scene location label (`model`, `loras[0].file`). */
  readonly label: string;
}

/** The scene's own `license:` for its model, as a reading; undefined when it states none. */
export function sceneLicence(recipe: Pick<ResolvedScene['recipe'], 'license'>): LicenceReading | undefined {
  const id = recipe.license?.trim().toLowerCase();
  return id ? { id, source: 'the scene\'s license:' } : undefined;
}

/** A model's (folder) or LoRA's (file) licence by the precedence above, the scene's aside. */
export async function componentLicence(ref: string, path: string, folder: boolean, lockRoot: string | undefined): Promise<LicenceReading> {
  return lockedLicence(lockRoot, ref, path) ?? (folder ? readModelLicence(path) : readFileLicence(path));
}

/** The licences of the scene's model and LoRAs; `projectRoot` holds imgprompt.lock (else found up from the scene). */
export async function sceneLicences(resolved: Pick<ResolvedScene, 'recipe'>, projectRoot?: string): Promise<ComponentLicence[]> {
  const { recipe } = resolved;
  const root = findLockfileRoot(recipe.scene, projectRoot);
  const model = sceneLicence(recipe) ?? (await componentLicence(recipe.model.ref, recipe.model.path, true, root));
  const out: ComponentLicence[] = [{ what: 'model', name: recipe.model.ref, licence: model, label: recipe.license?.trim() ? 'license' : 'model' }];
  for (const [i, lora] of recipe.loras.entries()) out.push({ what: 'lora', name: lora.ref, licence: await componentLicence(lora.ref, lora.path, false, root), label: `loras[${i}].file` });
  return out;
}

const CODE: Record<Severity, string> = { error: 'licence-excludes-purpose', warning: 'licence-restricts-use', info: 'licence-unfamiliar' };

/** Diagnostics for licences that exclude or restrict the purpose, or that cannot be found. */
export async function licenceDiagnostics(resolved: Pick<ResolvedScene, 'recipe' | 'checked'>, projectRoot?: string): Promise<SceneDiagnostic[]> {
  return diagnosticsForLicences(resolved, await sceneLicences(resolved, projectRoot));
}

/** The same from licences already read (an editor keeps them between keystrokes). */
export function diagnosticsForLicences(resolved: Pick<ResolvedScene, 'recipe' | 'checked'>, licences: readonly ComponentLicence[]): SceneDiagnostic[] {
  const diagnostics: SceneDiagnostic[] = [];
  const { checked, recipe } = resolved;
  for (const c of licences) {
    const finding = checkLicence(`the ${c.what === 'model' ? 'model' : 'LoRA'} '${c.name}'`, c.licence.id, recipe.purpose);
    if (!finding) continue;
    const range = checked.locations.get(c.label)?.value ?? checked.lines.range(0, 0);
    const code = c.licence.id === 'unknown' ? 'licence-unknown' : CODE[finding.severity];
    diagnostics.push({ severity: finding.severity, code, message: finding.message, range });
  }
  return diagnostics;
}

/** One line for hovers and the panel: `MIT (README.md)`, `unknown`. */
export function describeLicence(reading: LicenceReading): string {
  if (reading.id === 'unknown') return 'unknown (no model card licence, modelspec.license or model_index.json licence)';
  const terms = licenceTerms(reading.id);
  const kind = terms ? { permissive: '', 'use-restricted': ', use restrictions', 'non-commercial': ', non-commercial only' }[terms.kind] : '';
  return `${terms?.name ?? reading.id}${kind}${reading.source ? ` (from ${reading.source})` : ''}`;
}
