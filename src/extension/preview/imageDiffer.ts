// Computes what the diff view shows for two PNGs: pixel statistics and the magnitude map (decoded with
// sharp, loaded lazily so activation stays light) and the recipe diff of their stored recipes.
import { diffImages, type PixelImage, recipeDiff, InputError } from '../../engine/editor';
import type { DiffView } from '../../shared/protocol';

export interface DiffSide {
  readonly id: string;
  readonly file: string;
  readonly recipe?: Readonly<Record<string, unknown>>;
}

async function decode(file: string): Promise<PixelImage> {
  const { default: sharp } = await import('sharp');
  const { data, info } = await sharp(file).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export async function diffRenders(before: DiffSide, after: DiffSide): Promise<DiffView> {
  const [a, b] = await Promise.all([decode(before.file), decode(after.file)]);
  let pixels: DiffView['pixels'];
  let pixelNote: string | undefined;
  try {
    const d = diffImages(a, b);
    pixels = { width: d.width, height: d.height, magnitude: d.magnitude, changedFraction: d.changedFraction, psnr: Number.isFinite(d.psnr) ? d.psnr : null, threshold: d.threshold };
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    pixelNote = `No pixel diff: ${error.message}.`;
  }
  const recipeNote = !before.recipe || !after.recipe ? 'One of the images carries no imgprompt recipe, so there is no recipe to compare.' : undefined;
  const recipe = before.recipe && after.recipe ? recipeDiff(before.recipe, after.recipe) : [];
  return {
    before: before.id,
    after: after.id,
    ...(pixels ? { pixels } : {}),
    ...(pixelNote ? { pixelNote } : {}),
    recipe: recipe.map((c) => ({ field: c.field, ...(c.before !== undefined ? { before: c.before } : {}), ...(c.after !== undefined ? { after: c.after } : {}), ...(c.words ? { words: c.words } : {}) })),
    ...(recipeNote ? { recipeNote } : {}),
  };
}
