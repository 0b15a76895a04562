// Byte-pair encoding of one pre-token, as OpenAI CLIP / GPT-2 apply merges: the word starts as its
// byte characters with "</w>" on the last one, then the adjacent pair of lowest merge rank is merged
// everywhere (left to right, non-overlapping) until no ranked pair remains.

const END_OF_WORD = '</w>';
const CACHE_LIMIT = 20_000;

export class BytePairEncoder {
  private readonly cache = new Map<string, readonly string[]>();

  /** `ranks` maps "left right" (the two symbols joined by one space) to the merge's rank. */
  constructor(private readonly ranks: ReadonlyMap<string, number>) {}

  /** The BPE symbols of a byte-level word (e.g. "hello" becomes ["hello</w>"] if merges allow). */
  encode(word: string): readonly string[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const symbols = this.merge(word);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, symbols);
    return symbols;
  }

  private merge(word: string): string[] {
    let symbols = [...word];
    symbols[symbols.length - 1] += END_OF_WORD;
    while (symbols.length > 1) {
      let best = Infinity;
      let bestLeft = '';
      let bestRight = '';
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < best) {
          best = rank;
          bestLeft = symbols[i];
          bestRight = symbols[i + 1];
        }
      }
      if (best === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === bestLeft && symbols[i + 1] === bestRight) {
          merged.push(bestLeft + bestRight);
          i++;
        } else {
          merged.push(symbols[i]);
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}
