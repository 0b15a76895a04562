// The textual-inversion embeddings a scene's prompts use, found at resolve time so their contents enter
// the recipe hash. Two places hold them: the `embeddings/` folder beside the model folder (A1111 keeps
// one embeddings folder beside its models), whose files the prompt names by file name (A1111) or as
// `embedding:NAME` (ComfyUI); and files inside the project, named as `embedding:path/from/scene`
// (a `/` in the reference, `.safetensors` optional) or `embedding:NAME` for a NAME.safetensors beside
// the scene when the model's folder has none. A reference the scene writes but no file answers is an
// error at the prompt; pickled `.pt` embeddings are refused there too. A hub reference
// (`embedding:hf:org/name/file.safetensors`, `embedding:civitai:<version>`) is found in the hub caches.
import { basename, dirname, join, resolve } from 'node:path';
import type { SceneDiagnostic, SourceRange } from '../errors';
import type { SceneFileSystem } from '../io/sceneFileSystem';
import { explicitEmbeddingRefs, usesEmbeddings } from '../prompt/embeddingNames';
import { isInside, projectRef } from './checkScene';
import type { RecipeEmbedding } from './recipe';
import type { HubLookup } from '../hub/hubCache';
import { looksLikeHubRef } from '../hub/hubRef';
import { locateHubRef } from './locateHubRef';

/** Files of an embeddings folder looked at (a larger folder is read up to this many). */
const MAX_LISTED = 10_000;
const EXTENSION = '.safetensors';

/** The embeddings folder of a model: `embeddings/` beside its folder. */
export function modelEmbeddingsDir(modelDir: string): string {
  return join(dirname(modelDir), 'embeddings');
}

export interface EmbeddingSearch {
  readonly fs: SceneFileSystem;
  readonly modelDir: string;
  readonly sceneFile: string;
  readonly projectRoot: string;
  /** The prompt texts, each with where an error about it is reported. */
  readonly texts: readonly { readonly text: string; readonly range: SourceRange }[];
  /** Where `embedding:hf:...` / `embedding:civitai:...` references are found (the hub caches). */
  readonly hub?: HubLookup;
}

/** The embeddings the texts use, and an error for each reference no file answers. */
export function findEmbeddings(search: EmbeddingSearch): { embeddings: RecipeEmbedding[]; diagnostics: SceneDiagnostic[] } {
  const { fs } = search;
  const folder = modelEmbeddingsDir(search.modelDir);
  const sceneDir = dirname(resolve(search.sceneFile));
  const root = resolve(search.projectRoot);
  const library = (fs.files?.(folder) ?? []).filter((f) => f.toLowerCase().endsWith(EXTENSION)).slice(0, MAX_LISTED);
  const found = new Map<string, RecipeEmbedding>();
  const diagnostics: SceneDiagnostic[] = [];
  const add = (e: RecipeEmbedding): void => {
    if (!found.has(`${e.name}\0${e.path}`)) found.set(`${e.name}\0${e.path}`, e);
  };
  const inLibrary = (file: string): RecipeEmbedding => ({ name: file.slice(0, -EXTENSION.length), byName: true, path: join(folder, file), ref: `embeddings/${file}` });
  const inProject = (name: string, path: string): RecipeEmbedding | string => {
    const real = fs.realpath?.(path) ?? path;
    if (!isInside(root, path) || !isInside(fs.realpath?.(root) ?? root, real)) return `'${name}' is outside the project folder ${root}`;
    return fs.stat(path) === 'file' ? { name, byName: false, path, ref: projectRef(root, path) } : `no file ${path}`;
  };

  for (const { text, range } of search.texts) {
    for (const ref of explicitEmbeddingRefs(text)) {
      if (looksLikeHubRef(ref)) {
        const located = locateHubRef(ref, 'embedding', search.hub, fs);
        if ('code' in located) diagnostics.push({ severity: 'error', code: located.code, message: located.message, range });
        else if (fs.stat(located.path) !== 'file' || !located.path.toLowerCase().endsWith(EXTENSION)) {
          diagnostics.push({ severity: 'error', code: 'missing-embedding', message: `embedding '${ref}' is not a ${EXTENSION} file; name the file in the repository (embedding:hf:org/name/file${EXTENSION})`, range });
        } else add({ name: ref, byName: false, path: located.path, ref: located.ref });
        continue;
      }
      const file = ref.toLowerCase().endsWith(EXTENSION) ? ref : `${ref}${EXTENSION}`;
      const named = ref.includes('/') || ref.includes('\\') ? undefined : library.find((f) => f === file) ?? library.find((f) => f.toLowerCase() === file.toLowerCase());
      if (named) {
        add(inLibrary(named));
        continue;
      }
      const local = inProject(ref, resolve(sceneDir, file));
      if (typeof local !== 'string') {
        add(local);
        continue;
      }
      const pickle = ['.pt', '.bin'].map((ext) => resolve(sceneDir, `${ref.replace(/\.safetensors$/i, '')}${ext}`)).find((p) => fs.stat(p) === 'file');
      const message = pickle
        ? `embedding '${ref}' is ${basename(pickle)}, a pickle, which is never loaded: convert it to ${EXTENSION}`
        : `embedding '${ref}' not found: looked for ${file} in ${folder} and beside the scene (${local})`;
      diagnostics.push({ severity: 'error', code: 'missing-embedding', message, range });
    }
    for (const file of library) {
      const e = inLibrary(file);
      if (usesEmbeddings(text, [e])) add(e);
    }
  }
  return { embeddings: [...found.values()], diagnostics };
}
