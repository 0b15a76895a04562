"""A small, streaming .safetensors writer and a checking reader, for the random-weight checkpoints.

The format (huggingface/safetensors): an 8-byte little-endian unsigned header length N; N bytes of UTF-8
JSON mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
"__metadata__" object of strings; then the raw little-endian tensor bytes, offsets counted from the end
of the header. The header is padded with spaces so the data starts 8-byte aligned. Tensors are written
in name order, back to back, one at a time (the writer never holds more than one tensor's bytes), to a
temporary name that is renamed into place when complete.

The `safetensors` Python package is not required (and not installed here); torch and numpy are.
"""
from __future__ import annotations

import json
import os
import struct
import sys
from typing import Callable, Iterable

import numpy as np
import torch

DTYPE_NAMES = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64',
               torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
               torch.bool: 'BOOL'}
ITEM_SIZE = {'F32': 4, 'F16': 2, 'BF16': 2, 'F64': 8, 'I64': 8, 'I32': 4, 'I16': 2, 'I8': 1, 'U8': 1, 'BOOL': 1}
NUMPY = {'F32': '<f4', 'F16': '<f2', 'F64': '<f8', 'I64': '<i8', 'I32': '<i4', 'I16': '<i2', 'I8': 'i1',
         'U8': 'u1', 'BOOL': '?'}
MAX_HEADER = 100 * 1024 * 1024

assert sys.byteorder == 'little', 'the writer copies tensor memory as is, so it needs a little-endian host'


class Entry:
    """One tensor to write: its name, dtype and shape up front (the header comes first), its bytes
    produced only when written."""

    def __init__(self, name: str, dtype: torch.dtype, shape: Iterable[int], produce: Callable[[], torch.Tensor]):
        self.name, self.dtype, self.shape, self.produce = name, dtype, [int(s) for s in shape], produce

    @property
    def nbytes(self) -> int:
        n = ITEM_SIZE[DTYPE_NAMES[self.dtype]]
        for s in self.shape:
            n *= s
        return n


def header_bytes(entries: list[Entry], metadata: dict[str, str] | None) -> bytes:
    header: dict = {}
    if metadata is not None:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for e in entries:
        header[e.name] = {'dtype': DTYPE_NAMES[e.dtype], 'shape': e.shape, 'data_offsets': [offset, offset + e.nbytes]}
        offset += e.nbytes
    text = json.dumps(header, separators=(',', ':'), ensure_ascii=True).encode('utf-8')
    return text + b' ' * (-len(text) % 8)


def write(path: str, entries: Iterable[Entry], metadata: dict[str, str] | None = None) -> int:
    """Writes the tensors (sorted by name) to `path`; returns the file's size. Each entry's tensor is
    produced, checked against the announced dtype and shape, and written before the next is made."""
    entries = sorted(entries, key=lambda e: e.name)
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f'{path}: duplicate tensor names')
    head = header_bytes(entries, metadata)
    tmp = path + '.partial'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(head)))
        f.write(head)
        for e in entries:
            t = e.produce().detach()
            if t.dtype != e.dtype or list(t.shape) != e.shape:
                raise ValueError(f'{path}: {e.name} is {t.dtype} {list(t.shape)}, announced {e.dtype} {e.shape}')
            t = t.contiguous().cpu()
            data = t.view(torch.int16).numpy() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy()
            f.write(memoryview(np.ascontiguousarray(data)).cast('B'))
            del t, data
        size = f.tell()
    os.replace(tmp, path)
    return size


def entry(name: str, tensor: torch.Tensor, dtype: torch.dtype | None = None) -> Entry:
    """An entry for an existing tensor, converted to `dtype` (when given) only as it is written."""
    dtype = dtype or tensor.dtype
    return Entry(name, dtype, tensor.shape, lambda: tensor.to(dtype))


# ------------------------------------------------------------------------------------------ reading

def read_header(path: str) -> tuple[dict[str, dict], dict[str, str], int]:
    """(tensors {name: {dtype, shape, data_offsets}}, metadata, data start). Validates the structure: header
    length within the file, known dtypes, offsets matching shapes, tensors covering the data exactly,
    back to back, without overlaps or gaps."""
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ValueError(f'{path}: shorter than a safetensors header')
        (n,) = struct.unpack('<Q', raw)
        if n > MAX_HEADER or 8 + n > size:
            raise ValueError(f'{path}: header length {n} does not fit the file ({size} bytes)')
        header = json.loads(f.read(n).decode('utf-8'))
    meta = header.pop('__metadata__', None) or {}
    spans = []
    for name, info in header.items():
        dtype = info['dtype']
        if dtype not in ITEM_SIZE:
            raise ValueError(f'{path}: {name}: unknown dtype {dtype}')
        count = 1
        for s in info['shape']:
            count *= s
        b, e = info['data_offsets']
        if e - b != count * ITEM_SIZE[dtype]:
            raise ValueError(f'{path}: {name}: {e - b} bytes for {dtype} {info["shape"]}')
        spans.append((b, e, name))
    spans.sort()
    at = 0
    for b, e, name in spans:
        if b != at:
            raise ValueError(f'{path}: {name} starts at {b}, expected {at} (gap or overlap)')
        at = e
    if 8 + n + at != size:
        raise ValueError(f'{path}: data ends at {8 + n + at}, file has {size} bytes')
    return header, meta, 8 + n


def read_tensor(path: str, info: dict, start: int) -> torch.Tensor:
    b, e = info['data_offsets']
    dtype = info['dtype']
    if dtype == 'BF16':
        a = np.fromfile(path, dtype='<i2', count=(e - b) // 2, offset=start + b)
        return torch.from_numpy(a.copy()).view(torch.bfloat16).reshape(info['shape'])
    a = np.fromfile(path, dtype=NUMPY[dtype], count=(e - b) // ITEM_SIZE[dtype], offset=start + b)
    return torch.from_numpy(a.copy()).reshape(info['shape'])
