"""CLIP-format byte-level BPE: training on the caption corpus, encoding, and the tokenizer/ files.

Follows the format of OpenAI CLIP's simple_tokenizer / Hugging Face's CLIPTokenizer (facts, not code):
text is whitespace-normalised and lower-cased, split by CLIP's pre-tokenisation pattern, each piece's
UTF-8 bytes are mapped to printable characters (GPT-2's bytes_to_unicode table), the last character of
a word carries the "</w>" suffix, and merges are applied by rank. The vocabulary is the 256 byte
characters, the same with "</w>", the merged tokens in merge order, then <|startoftext|> and
<|endoftext|> as the two highest ids. Sequences are BOS + tokens + EOS, truncated to 77 keeping EOS, and
padded with <|endoftext|> (as Stable Diffusion 1.5's tokenizer is configured).
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter

BOS = '<|startoftext|>'
EOS = '<|endoftext|>'
MAX_LENGTH = 77

# CLIP's pattern, with \p{L} and \p{N} written for Python's re module.
_PATTERN = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+""",
                      re.IGNORECASE)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP table: printable bytes map to themselves, the rest to code points from 256 up."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()


def normalise(text: str) -> str:
    return re.sub(r'\s+', ' ', text).strip().lower()


def pre_tokenise(text: str) -> list[str]:
    return [''.join(BYTE_ENCODER[b] for b in piece.encode('utf-8')) for piece in _PATTERN.findall(normalise(text))]


def _word(piece: str) -> tuple[str, ...]:
    return tuple(piece[:-1]) + (piece[-1] + '</w>',)


def train(corpus: list[str], max_merges: int = 2000, min_count: int = 2) -> list[tuple[str, str]]:
    """Greedy BPE on word counts; ties go to the lexicographically largest pair (deterministic)."""
    counts: Counter[tuple[str, ...]] = Counter()
    for text in corpus:
        for piece in pre_tokenise(text):
            counts[_word(piece)] += 1
    words = dict(counts)
    merges: list[tuple[str, str]] = []
    while len(merges) < max_merges:
        pairs: Counter[tuple[str, str]] = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if best[1] < min_count:
            break
        pair = best[0]
        merges.append(pair)
        words = {_merge(w, pair): c for w, c in words.items()}
    return merges


def _merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    chars = list(BYTE_ENCODER.values())
    tokens = chars + [c + '</w>' for c in chars] + [a + b for a, b in merges] + [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}


class Tokenizer:
    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        self.vocab = vocab
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.bos_id = vocab[BOS]
        self.eos_id = vocab[EOS]
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def load(cls, folder: str) -> 'Tokenizer':
        with open(os.path.join(folder, 'vocab.json'), encoding='utf-8') as f:
            vocab = json.load(f)
        with open(os.path.join(folder, 'merges.txt'), encoding='utf-8') as f:
            lines = f.read().strip().split('\n')[1:]
        return cls(vocab, [tuple(line.split(' ')) for line in lines if line])

    def bpe(self, piece: str) -> list[str]:
        if piece in self._cache:
            return self._cache[piece]
        word = _word(piece)
        while len(word) > 1:
            pairs = [(self.ranks.get(p, 1 << 30), p) for p in zip(word, word[1:])]
            rank, pair = min(pairs)
            if rank == 1 << 30:
                break
            word = _merge(word, pair)
        self._cache[piece] = list(word)
        return list(word)

    def tokenize(self, text: str) -> list[int]:
        """Ids without BOS/EOS."""
        return [self.vocab[t] for piece in pre_tokenise(text) for t in self.bpe(piece)]

    def __call__(self, text: str, max_length: int = MAX_LENGTH) -> list[int]:
        ids = self.tokenize(text)[: max_length - 2]
        ids = [self.bos_id] + ids + [self.eos_id]
        return ids + [self.eos_id] * (max_length - len(ids))


def save(folder: str, merges: list[tuple[str, str]]) -> None:
    os.makedirs(folder, exist_ok=True)
    vocab = build_vocab(merges)
    with open(os.path.join(folder, 'vocab.json'), 'w', encoding='utf-8') as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, 'merges.txt'), 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n' + ''.join(f'{a} {b}\n' for a, b in merges))
    special = {'bos_token': BOS, 'eos_token': EOS, 'pad_token': EOS, 'unk_token': EOS}
    with open(os.path.join(folder, 'special_tokens_map.json'), 'w', encoding='utf-8') as f:
        json.dump(special, f, indent=2)
        f.write('\n')
    config = {
        'add_prefix_space': False,
        'bos_token': BOS,
        'clean_up_tokenization_spaces': True,
        'do_lower_case': True,
        'eos_token': EOS,
        'errors': 'replace',
        'model_max_length': MAX_LENGTH,
        'pad_token': EOS,
        'tokenizer_class': 'CLIPTokenizer',
        'unk_token': EOS,
    }
    with open(os.path.join(folder, 'tokenizer_config.json'), 'w', encoding='utf-8') as f:
        json.dump(config, f, indent=2)
        f.write('\n')
