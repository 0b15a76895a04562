// An independent reader for the provenance tests: validates a file's C2PA manifest with the reference
// implementation (c2pa-rs through @contentauth/c2pa-node) in a separate Node process that shares no code
// with imgprompt, and prints the validation state, the codes of the checks that ran and the active
// manifest's assertion labels as JSON. Usage: node readC2paInChildProcess.mjs FILE [TRUST_ANCHORS_PEM_FILE]
import { readFileSync } from 'node:fs';
import { Reader } from '@contentauth/c2pa-node';

const [file, anchorsFile] = process.argv.slice(2);
const settings = anchorsFile ? JSON.stringify({ trust: { verify_trust_list: true, trust_anchors: readFileSync(anchorsFile, 'utf8') } }) : undefined;
const mimeType = /\.jpe?g$/i.test(file) ? 'image/jpeg' : 'image/png';
const reader = await Reader.fromAsset({ buffer: readFileSync(file), mimeType }, settings);
const store = reader.json();
const active = store.manifests[store.active_manifest];
const results = store.validation_results?.activeManifest ?? {};
process.stdout.write(
  JSON.stringify({
    state: store.validation_state,
    success: (results.success ?? []).map((s) => s.code),
    failure: (results.failure ?? []).map((s) => s.code),
    assertions: active.assertions.map((a) => a.label),
    actions: active.assertions.find((a) => a.label === 'c2pa.actions.v2')?.data.actions,
    softBinding: active.assertions.find((a) => a.label === 'c2pa.soft-binding')?.data ?? null,
    signer: active.signature_info,
    ingredients: (active.ingredients ?? []).map((i) => ({ title: i.title, relationship: i.relationship, active_manifest: i.active_manifest ?? null })),
  }),
);
