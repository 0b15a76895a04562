// Output: PNG chunk codec, text chunks, provenance metadata (recipe, A1111 infotext, XMP), pixel encoding
// and atomic writes.
export { PNG_SIGNATURE, isPng, parsePngChunks, encodePngChunk, encodePngChunks, type PngChunk, type ParsePngOptions } from './pngChunks';
export {
  MAX_INFLATED_TEXT_BYTES,
  checkPngKeyword,
  isLatin1Text,
  decodeTextChunk,
  readPngText,
  readPngTextFromBytes,
  encodeTextChunk,
  insertTextChunks,
  insertPngText,
  type PngTextChunkType,
  type PngTextEntry,
} from './pngText';
export type { RecipeLoRAFields, RecipeMetadataFields } from './recipeFields';
export { formatInfotext, quoteInfotextValue, loraTag } from './infotext';
export { XMP_KEYWORD, TRAINED_ALGORITHMIC_MEDIA, IMGPROMPT_XMP_NS, buildXmpPacket, readXmpProvenance, type XmpProvenance } from './xmpPacket';
export { IMGPROMPT_KEYWORD, PARAMETERS_KEYWORD, buildMetadataEntries } from './metadataEntries';
export { encodePixelsToPng, encodePngWithMetadata, type RawImage } from './encodePng';
export { writeFileAtomic, tempPathFor, type AtomicWriteOptions } from './writeFileAtomic';
