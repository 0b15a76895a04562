// Provenance others can verify: C2PA manifests (signing with the configured or a local identity,
// reading and validating with the reference implementation) and the prompt log.
export { FigureProvenance, type ProvenanceSettings } from './FigureProvenance';
export { loadSigningIdentity, defaultIdentityDir, LOCAL_IDENTITY_FILE, type SigningIdentity, type SigningIdentityOptions } from './signingIdentity';
export { issueCertificate, toPem, type CertificateRequest, type DistinguishedName } from './x509Certificate';
export { buildManifestDefinition, ingredientDefinition, RECIPE_ASSERTION, MODELS_ASSERTION, PIXELS_ASSERTION, type ModelIdentity, type IngredientFile, type ManifestInput } from './c2paManifest';
export { signPng } from './signPng';
export { readC2pa, type C2paReport, type C2paState, type C2paIngredientNode, type ReadC2paOptions } from './readC2pa';
export { loadC2paLibrary, C2PA_PACKAGE } from './c2paLibrary';
export { C2PA_PNG_CHUNK, idatSha256, hasC2paChunk, withoutC2paChunk } from './pngC2paChunk';
export { appendPromptLog, parsePromptLog, formatPromptLogLine, gitAuthor, PROMPT_LOG_PATH, PROMPT_LOG_COLUMNS, type PromptLogEntry } from './promptLog';
