// Where a render writes its preprocessed hint images on request: beside the output, numbered in the
// order of the scene's `control:` entries. Kept dependency-free so the editor can import it cheaply.

/** `figure.png` → `figure.hint-1.png` for the first (1-based) hint. */
export function hintOutputPath(output: string, n: number): string {
  return `${output.replace(/\.png$/i, '')}.hint-${n}.png`;
}
