"""Minimal .safetensors reader / writer (numpy), for the adapter files.

Format: 8-byte little-endian header length N, then N bytes of UTF-8 JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, padded with spaces to
a multiple of 8, then the little-endian tensor bytes; offsets are relative to the end of the header.
"""
from __future__ import annotations

import json
import os
import struct

import numpy as np

_DTYPES = {'F16': np.float16, 'F32': np.float32, 'F64': np.float64, 'I32': np.int32, 'I64': np.int64,
           'U8': np.uint8, 'I8': np.int8, 'BF16': None}
_NAMES = {np.dtype(v).newbyteorder('<'): k for k, v in _DTYPES.items() if v is not None}
MAX_HEADER = 100 * 1024 * 1024


def write(path: str, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    header: dict = {}
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], order='C')  # (ascontiguousarray would turn a scalar into shape [1])
        a = a.astype(a.dtype.newbyteorder('<'), copy=False)
        if a.dtype not in _NAMES:
            raise ValueError(f'{path}: tensor {name}: unsupported dtype {a.dtype}')
        data = a.tobytes()
        header[name] = {'dtype': _NAMES[a.dtype], 'shape': list(a.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read(path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata). Raises ValueError naming the file on a malformed header."""
    with open(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f'{path}: too short for a safetensors header')
    (n,) = struct.unpack('<Q', raw[:8])
    if n > MAX_HEADER or 8 + n > len(raw):
        raise ValueError(f'{path}: header length {n} exceeds the file')
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    base = 8 + n
    meta = header.pop('__metadata__', {}) or {}
    out = {}
    for name, info in header.items():
        dt = _DTYPES.get(info['dtype'])
        if dt is None:
            raise ValueError(f'{path}: tensor {name}: unsupported dtype {info["dtype"]}')
        b, e = info['data_offsets']
        shape = tuple(info['shape'])
        if not 0 <= b <= e <= len(raw) - base or e - b != int(np.prod(shape)) * np.dtype(dt).itemsize:
            raise ValueError(f'{path}: tensor {name}: data_offsets {b}..{e} do not match shape {shape}')
        out[name] = np.frombuffer(raw[base + b:base + e], dtype=np.dtype(dt).newbyteorder('<')).reshape(shape).copy()
    return out, meta
