// Reads and validates the C2PA manifest of a PNG or JPEG with the reference implementation and turns
// c2pa-rs's report into what a person needs: valid / trusted / invalid (with the failing checks), who
// signed it and whether that issuer is on a trust list, the ingredient tree, and — for our own figures —
// whether the image data or the recipe changed after signing (compared with what the manifest recorded).
import { C2PA_PACKAGE, c2paSettings, loadC2paLibrary, type C2paIngredientJson, type C2paManifestJson, type C2paManifestStore, type C2paStatus } from './c2paLibrary';
import { MODELS_ASSERTION, PIXELS_ASSERTION, RECIPE_ASSERTION } from './c2paManifest';
import { idatSha256 } from './pngC2paChunk';
import { isPng } from '../output/pngChunks';
import { readPngTextFromBytes } from '../output/pngText';
import { IMGPROMPT_KEYWORD } from '../output/metadataEntries';
import { canonicalJson } from '../scene/recipe';

/**
 * `absent`: no manifest. `trusted`: valid and the signer chains to a trust anchor given. `valid`: every
 * check passed but the issuer is on no trust list given. `invalid`: a check failed (see `failures`).
 */
export type C2paState = 'absent' | 'valid' | 'trusted' | 'invalid' | 'unreadable';

export interface C2paIngredientNode {
  readonly title: string;
  readonly relationship: string;
  /** The ingredient's own manifest, when it had one: its signer and its own ingredients. */
  readonly manifest?: { readonly label: string; readonly signer?: string; readonly generator?: string; readonly ingredients: readonly C2paIngredientNode[] };
  readonly failures: readonly C2paStatus[];
}

export interface C2paReport {
  readonly state: C2paState;
  /** One line for people: "valid; signed by …, issuer not on a trust list". */
  readonly summary: string;
  readonly failures: readonly C2paStatus[];
  /** Which checks ran and passed (c2pa-rs success codes). */
  readonly passed: readonly string[];
  readonly trusted: boolean;
  readonly signer?: { readonly issuer?: string; readonly commonName?: string; readonly alg?: string };
  readonly generator?: string;
  readonly label?: string;
  readonly assertions: readonly string[];
  readonly ingredients: readonly C2paIngredientNode[];
  /** The image data (IDAT) differs from what the signer recorded (our figures only). */
  readonly pixelsChanged?: boolean;
  /** The `imgprompt` recipe chunk differs from the recipe in the manifest (our figures only). */
  readonly recipeChanged?: boolean;
  /** The signed recipe (our figures). */
  readonly recipe?: unknown;
  /** The signed model identities (our figures): `{ models: [{ role, name, sha256, licence }] }`. */
  readonly models?: unknown;
}

export interface ReadC2paOptions {
  /** PEM trust anchors; without them no signer is trusted (and says so). */
  readonly trustAnchorsPem?: string;
}

function generatorOf(m: C2paManifestJson | undefined): string | undefined {
  const g = m?.claim_generator_info?.[0];
  return g?.name ? `${g.name}${g.version ? ` ${g.version}` : ''}` : undefined;
}

function signerOf(m: C2paManifestJson | undefined): string | undefined {
  const s = m?.signature_info;
  return s ? [s.common_name, s.issuer && `issued by ${s.issuer}`].filter(Boolean).join(', ') : undefined;
}

/** The ingredient tree, following each ingredient's active manifest through the store (depth-capped). */
function ingredientTree(store: C2paManifestStore, ingredients: readonly C2paIngredientJson[] | undefined, depth: number): C2paIngredientNode[] {
  return (ingredients ?? []).map((i) => {
    const child = i.active_manifest ? store.manifests?.[i.active_manifest] : undefined;
    const failures = [...(i.validation_results?.activeManifest?.failure ?? []), ...(i.validation_status ?? []).filter((s) => !/\.(validated|trusted|match|insideValidity|success)$/.test(s.code))];
    return {
      title: i.title ?? '(untitled)',
      relationship: i.relationship ?? 'componentOf',
      failures,
      manifest:
        child && i.active_manifest
          ? { label: i.active_manifest, signer: signerOf(child), generator: generatorOf(child), ingredients: depth < 16 ? ingredientTree(store, child.ingredients, depth + 1) : [] }
          : undefined,
    };
  });
}

function assertionData(m: C2paManifestJson | undefined, label: string): unknown {
  return m?.assertions?.find((a) => a.label === label)?.data;
}

function compareWithFigure(bytes: Uint8Array, active: C2paManifestJson | undefined): { pixelsChanged?: boolean; recipeChanged?: boolean; recipe?: unknown; models?: unknown } {
  const pixels = assertionData(active, PIXELS_ASSERTION) as { idat_sha256?: unknown } | undefined;
  const recipe = assertionData(active, RECIPE_ASSERTION);
  if (!isPng(bytes) || (!pixels && recipe === undefined)) return {};
  const out: { pixelsChanged?: boolean; recipeChanged?: boolean; recipe?: unknown; models?: unknown } = { recipe, models: assertionData(active, MODELS_ASSERTION) };
  if (typeof pixels?.idat_sha256 === 'string') out.pixelsChanged = idatSha256(bytes) !== pixels.idat_sha256;
  if (recipe !== undefined) {
    const text = readPngTextFromBytes(bytes).find((t) => t.keyword === IMGPROMPT_KEYWORD)?.text;
    let stored: unknown;
    try {
      stored = text === undefined ? undefined : JSON.parse(text);
    } catch {
      stored = undefined;
    }
    out.recipeChanged = stored === undefined || canonicalJson(stored) !== canonicalJson(recipe);
  }
  return out;
}

function describe(state: C2paState, report: Pick<C2paReport, 'signer' | 'failures' | 'pixelsChanged' | 'recipeChanged'>): string {
  const signer = report.signer?.commonName ? `signed by ${report.signer.commonName}${report.signer.issuer ? ` (issuer ${report.signer.issuer})` : ''}` : 'signed';
  switch (state) {
    case 'absent':
      return 'no C2PA manifest';
    case 'trusted':
      return `valid; ${signer}; issuer on the trust list`;
    case 'valid':
      return `valid; ${signer}, issuer not on a trust list`;
    case 'invalid': {
      const first = report.failures[0];
      const what = report.pixelsChanged ? 'the image data changed after signing' : report.recipeChanged ? 'the recipe changed after signing' : 'a check failed';
      return `invalid: ${what}${first ? ` (${first.code}${first.explanation ? `: ${first.explanation}` : ''})` : ''}; ${signer}`;
    }
    default:
      return 'the C2PA manifest could not be read';
  }
}

/** Reads the manifest of PNG or JPEG bytes. A missing library or a malformed store is `unreadable`, never a throw. */
export async function readC2pa(bytes: Buffer, mimeType: string, options: ReadC2paOptions = {}): Promise<C2paReport> {
  const empty = { failures: [], passed: [], trusted: false, assertions: [], ingredients: [] };
  let store: C2paManifestStore;
  try {
    const c2pa = await loadC2paLibrary();
    const reader = await c2pa.Reader.fromAsset({ buffer: bytes, mimeType }, c2paSettings(options.trustAnchorsPem));
    if (!reader) return { ...empty, state: 'absent', summary: describe('absent', empty) };
    store = reader.json();
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    // c2pa-rs reports a file without a manifest as an error ("JumbfNotFound" / "no JUMBF data found").
    if (/JumbfNotFound|no jumbf|ManifestNotFound|not found/i.test(message) && !message.includes(C2PA_PACKAGE)) return { ...empty, state: 'absent', summary: describe('absent', empty) };
    return { ...empty, state: 'unreadable', summary: `the C2PA manifest could not be read: ${message}` };
  }
  const active = store.active_manifest ? store.manifests?.[store.active_manifest] : undefined;
  const results = store.validation_results?.activeManifest;
  const failures = (results?.failure ?? store.validation_status ?? []).filter((s) => s.code !== 'signingCredential.untrusted');
  const trusted = store.validation_state === 'Trusted';
  const state: C2paState = failures.length > 0 || store.validation_state === 'Invalid' ? 'invalid' : trusted ? 'trusted' : 'valid';
  const partial: Omit<C2paReport, 'summary'> = {
    state,
    failures,
    passed: (results?.success ?? []).map((s) => s.code),
    trusted,
    signer: active?.signature_info ? { issuer: active.signature_info.issuer, commonName: active.signature_info.common_name, alg: active.signature_info.alg } : undefined,
    generator: generatorOf(active),
    label: store.active_manifest,
    assertions: (active?.assertions ?? []).map((a) => a.label),
    ingredients: ingredientTree(store, active?.ingredients, 0),
    ...compareWithFigure(bytes, active),
  };
  return { ...partial, summary: describe(state, partial) };
}
