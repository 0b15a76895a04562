// The pipeline's caches of loads in flight or done (tokenizers, LoRA files, graph structures, preview
// decoder configs, embeddings): one promise per key, shared by concurrent callers; a rejected load is
// forgotten so the next call tries again.

export function memo<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let pending = map.get(key);
  if (!pending) {
    pending = make();
    pending.catch(() => map.delete(key));
    map.set(key, pending);
  }
  return pending;
}
