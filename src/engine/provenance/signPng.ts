// Signs a figure: embeds a C2PA manifest (c2paManifest.ts) into the PNG bytes, signed by the identity
// (signingIdentity.ts), with the input images as ingredients. No time-stamp authority is asked (no
// network, and a timestamp would change the bytes); the Ed25519 signature is deterministic.
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors';
import { c2paSettings, loadC2paLibrary } from './c2paLibrary';
import { ingredientDefinition, type IngredientFile } from './c2paManifest';
import type { SigningIdentity } from './signingIdentity';

/** The largest ingredient image read. */
const MAX_INGREDIENT_BYTES = 256 * 1024 * 1024;

/** Returns the PNG with the manifest embedded. */
export async function signPng(png: Buffer, definition: Record<string, unknown>, identity: SigningIdentity, ingredients: readonly IngredientFile[] = []): Promise<Buffer> {
  const c2pa = await loadC2paLibrary();
  const builder = c2pa.Builder.withJson(definition, c2paSettings());
  for (const ingredient of ingredients) {
    const bytes = await readFile(ingredient.path);
    if (bytes.length > MAX_INGREDIENT_BYTES) throw new InputError(`the ingredient image ${ingredient.title} is over ${MAX_INGREDIENT_BYTES} bytes`, ingredient.path);
    const json = ingredientDefinition(ingredient);
    await builder.addIngredient(JSON.stringify(json), { buffer: bytes, mimeType: String(json.format) });
  }
  const signer = c2pa.LocalSigner.newSigner(Buffer.from(identity.certificateChain), Buffer.from(identity.privateKey), identity.algorithm);
  const output: { buffer: Buffer | null } = { buffer: null };
  builder.sign(signer, { buffer: png, mimeType: 'image/png' }, output);
  if (!output.buffer) throw new Error('the C2PA library returned no signed image');
  return output.buffer;
}
