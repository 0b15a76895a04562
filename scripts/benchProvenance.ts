// Rows of `npm run bench` for provenance: signing a 512² figure with a C2PA manifest (local Ed25519
// identity, no thumbnail, no timestamp) and reading + validating it back, as medians, beside the tiny
// render's time (target: each < 5 % of it).
import { join } from 'node:path';
import { buildManifestDefinition, encodePngWithMetadata, idatSha256, loadSigningIdentity, readC2pa, signPng, type PortableRecipe } from '../src/engine/index';
import { median } from './benchStats';

function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}

/** `recipe`: a real job's portable recipe (what goes into the manifest); `renderMs`: the tiny render's median. */
export async function provenanceRows(recipe: PortableRecipe, dir: string, renderMs: number, runs: number): Promise<[string, string][]> {
  // A 512² figure with the texture of a generated image (smooth gradients plus noise), so the PNG has a
  // realistic size (the data hash covers every byte).
  const size = 512;
  const data = new Uint8Array(size * size * 3);
  let x = 12345;
  for (let i = 0; i < data.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    data[i] = (((i / 3) % size) / 2 + (x >>> 28)) & 0xff;
  }
  const png = await encodePngWithMetadata({ data, width: size, height: size, channels: 3 }, recipe);
  const identity = await loadSigningIdentity({ identityDir: join(dir, 'identity') });
  const definition = buildManifestDefinition({ recipe, title: 'bench.png', models: [{ role: 'model', name: recipe.model.name, sha256: recipe.model.hash, licence: 'mit' }], idatSha256: idatSha256(png) });
  const first = performance.now();
  await signPng(png, definition, identity); // loads the native library
  const firstMs = performance.now() - first;
  const signTimes: number[] = [];
  const verifyTimes: number[] = [];
  let signed = png;
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    // What a render adds: the IDAT digest, the manifest, the signature.
    signed = await signPng(png, buildManifestDefinition({ recipe, title: 'bench.png', models: [], idatSha256: idatSha256(png) }), identity);
    signTimes.push(performance.now() - t);
    t = performance.now();
    const report = await readC2pa(signed, 'image/png');
    verifyTimes.push(performance.now() - t);
    if (report.state !== 'valid') throw new Error(`bench: the signed figure reads as ${report.summary}`);
  }
  const sign = median(signTimes);
  const verify = median(verifyTimes);
  const share = (v: number) => `${((v / renderMs) * 100).toFixed(1)}% of the tiny render`;
  return [
    [`C2PA sign, ${size}² PNG (${(png.length / 1024).toFixed(0)} kB, Ed25519)`, `${ms(sign)} = ${share(sign)} (target < 5%)`],
    [`C2PA read + validate, ${size}² PNG`, `${ms(verify)} = ${share(verify)} (target < 5%)`],
    ['C2PA first signature in a process', `${ms(firstMs)} (loading the native library included; once per process)`],
  ];
}
