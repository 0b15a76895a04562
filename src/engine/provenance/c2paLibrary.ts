// The C2PA reference implementation (c2pa-rs through its Node binding, @contentauth/c2pa-node), loaded
// on first use only: it is a native module, so nothing that merely parses scenes or draws the editor pays
// for it, and a machine where it cannot load still renders (the caller reports why its figure is unsigned).
// The types below are the subset of the binding's API this project calls, written against version 0.8.0.

/** A source or destination asset: bytes in memory (`buffer` is filled by a sign call) or a file. */
export type C2paAsset = { buffer: Buffer | null; mimeType?: string } | { path: string; mimeType?: string };

export interface C2paSigner {
  alg(): string;
}

export interface C2paBuilder {
  addIngredient(ingredientJson: string, ingredient?: C2paAsset): Promise<void>;
  sign(signer: C2paSigner, input: C2paAsset, output: C2paAsset): Buffer;
}

export interface C2paReaderHandle {
  json(): C2paManifestStore;
}

/** The manifest store as the reader reports it (c2pa-rs `Reader::json`), the members read here. */
export interface C2paManifestStore {
  active_manifest?: string;
  manifests?: Record<string, C2paManifestJson>;
  validation_state?: string;
  validation_status?: C2paStatus[];
  validation_results?: {
    activeManifest?: { success?: C2paStatus[]; informational?: C2paStatus[]; failure?: C2paStatus[] };
    ingredientDeltas?: { ingredientAssertionURI?: string; validationDeltas?: { failure?: C2paStatus[] } }[];
  };
}

export interface C2paStatus {
  code: string;
  url?: string;
  explanation?: string;
}

export interface C2paManifestJson {
  label?: string;
  title?: string;
  claim_generator_info?: { name?: string; version?: string }[];
  assertions?: { label: string; data?: unknown }[];
  ingredients?: C2paIngredientJson[];
  signature_info?: { alg?: string; issuer?: string; common_name?: string; time?: string };
}

export interface C2paIngredientJson {
  title?: string;
  format?: string;
  relationship?: string;
  active_manifest?: string;
  instance_id?: string;
  validation_results?: C2paManifestStore['validation_results'];
  validation_status?: C2paStatus[];
}

export interface C2paLibrary {
  Builder: { withJson(json: object, settings?: string): C2paBuilder };
  Reader: { fromAsset(asset: C2paAsset, settings?: string): Promise<C2paReaderHandle | null> };
  LocalSigner: { newSigner(certificate: Buffer, privateKey: Buffer, algorithm: string, tsaUrl?: string): C2paSigner };
}

/** The npm package; kept external by esbuild.mjs and shipped by scripts/package.mjs. */
export const C2PA_PACKAGE = '@contentauth/c2pa-node';

let library: Promise<C2paLibrary> | undefined;

/**
 * Loads the binding once; rejects with an Error saying why it is unavailable on this machine. The
 * package's modules are imported one by one rather than through its index, which also pulls in its
 * settings-file helpers (fs-extra, node-fetch) and Trustmark (sharp) that signing and reading never use.
 */
export function loadC2paLibrary(): Promise<C2paLibrary> {
  library ??= Promise.all([import(`${C2PA_PACKAGE}/dist/Builder.js`), import(`${C2PA_PACKAGE}/dist/Reader.js`), import(`${C2PA_PACKAGE}/dist/Signer.js`), import(`${C2PA_PACKAGE}/dist/binary.js`)])
    .then(([builder, reader, signer, binary]) => {
      // The modules load the native binary on first use; load it now, so a missing one fails here.
      (binary as { getNeonBinary(): unknown }).getNeonBinary();
      return { Builder: builder.Builder, Reader: reader.Reader, LocalSigner: signer.LocalSigner } as C2paLibrary;
    })
    .catch((error: unknown) => {
      library = undefined;
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new Error(`the C2PA library (${C2PA_PACKAGE}) could not be loaded: ${reason}`);
    });
  return library;
}

/**
 * Settings JSON (c2pa-rs snake_case keys): no thumbnail (it would only repeat the figure; without it a
 * 512² signature takes a few ms instead of ~150), and the trust anchors when given (without them every
 * signer reads as `signingCredential.untrusted`, which is what we report).
 */
export function c2paSettings(trustAnchorsPem?: string): string {
  const settings: Record<string, unknown> = { builder: { thumbnail: { enabled: false } } };
  if (trustAnchorsPem) settings.trust = { verify_trust_list: true, trust_anchors: trustAnchorsPem };
  return JSON.stringify(settings);
}
