// The provenance text entries written into every output PNG: iTXt `imgprompt` (canonical recipe JSON),
// tEXt `parameters` (AUTOMATIC1111 infotext) and iTXt `XML:com.adobe.xmp` (AI-generated disclosure).
import { ENGINE_VERSION } from '../version';
import { canonicalJson } from '../scene/recipe';
import { formatInfotext } from './infotext';
import type { PngTextEntry } from './pngText';
import type { RecipeMetadataFields } from './recipeFields';
import { buildXmpPacket, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, XMP_KEYWORD } from './xmpPacket';

/** The iTXt keyword of our own recipe. */
export const IMGPROMPT_KEYWORD = 'imgprompt';
/** The keyword AUTOMATIC1111 (and tools that read its format) use for the infotext. */
export const PARAMETERS_KEYWORD = 'parameters';

/** What the XMP says beyond the recipe: who wrote the prompt (IPTC AI Prompt Writer Name). */
export interface MetadataDisclosure {
  readonly promptWriter?: string;
}

/**
 * The text entries for a recipe, in the order they are written. The recipe is serialised whole (every
 * member, not only the known ones); `parameters` becomes iTXt only when the prompt is not Latin-1, as
 * Pillow (and so A1111) does.
 */
export function buildMetadataEntries(recipe: RecipeMetadataFields, disclosure: MetadataDisclosure = {}): PngTextEntry[] {
  const version = recipe.engine?.version ?? ENGINE_VERSION;
  return [
    { keyword: IMGPROMPT_KEYWORD, text: canonicalJson(recipe), chunkType: 'iTXt', compressed: false },
    { keyword: PARAMETERS_KEYWORD, text: formatInfotext(recipe) },
    {
      keyword: XMP_KEYWORD,
      chunkType: 'iTXt',
      compressed: false,
      text: buildXmpPacket({
        prompt: recipe.prompt,
        creatorTool: `imgprompt ${version}`,
        purpose: recipe.purpose ?? undefined,
        audience: recipe.audience,
        title: recipe.scene ? recipe.scene.split('/').pop()?.replace(/\.imgprompt$/i, '') : undefined,
        aiSystem: 'imgprompt',
        aiSystemVersion: version,
        promptWriter: disclosure.promptWriter,
        digitalSourceType: recipe.init ? COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA : undefined,
      }),
    },
  ];
}
