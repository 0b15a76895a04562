// Shared by the security tests: a seeded generator, a timer that tells a slow parser from a GC pause, and
// small PNG builders.
import { encodePngChunks, type PngChunk } from '../../src/engine/output/pngChunks';

/** A small deterministic generator (32-bit LCG) so every failure reproduces from its seed. */
export function generator(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return Math.floor((state / 2 ** 32) * n);
  };
}

/**
 * Milliseconds `run` takes. A run over `boundMs` is repeated (up to `tries` runs in all) and the fastest
 * kept: a first call's compilation, a garbage collection or a busy machine can slow one run, but a
 * super-linear parser is slow every time.
 */
export function timeMs(run: () => void, boundMs = Infinity, tries = 5): number {
  let best = Infinity;
  for (let i = 0; i < tries && best > boundMs; i++) {
    const start = performance.now();
    run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/** Runs `fn`, returning the error it throws (or undefined). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error;
  }
}

const IHDR_1x1_GREY: PngChunk = { type: 'IHDR', data: Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]) };
const IDAT_1x1: PngChunk = { type: 'IDAT', data: Buffer.from([0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]) };

/** A valid 1x1 greyscale PNG with the given chunks between IHDR and IDAT. */
export function pngWith(chunks: readonly PngChunk[]): Buffer {
  return encodePngChunks([IHDR_1x1_GREY, ...chunks, IDAT_1x1, { type: 'IEND', data: Buffer.alloc(0) }]);
}

/** A tEXt chunk (Latin-1 keyword and text). */
export function tEXt(keyword: string, text: string): PngChunk {
  return { type: 'tEXt', data: Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0), Buffer.from(text, 'latin1')]) };
}
