"""Reads the initializers and nodes of an ONNX model with a minimal protobuf reader (no onnx package on
Debian), and maps the tiny-shapes text encoder's initializers onto its PyTorch state dict, so a
reference can be computed from exactly the weights the engine runs when no training checkpoint is here.

Field numbers from onnx.proto: ModelProto.graph = 7; GraphProto.node = 1, .initializer = 5;
NodeProto.input = 1, .output = 2, .name = 3, .op_type = 4; TensorProto.dims = 1, .data_type = 2,
.float_data = 4, .name = 8, .raw_data = 9 (external data is not used by the tiny model).
"""
from __future__ import annotations

import re
import struct

import numpy as np
import torch


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) for each field; value is an int or a bytes slice."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f'unsupported wire type {wire}')
        yield field, wire, value


def _tensor(buf: bytes) -> tuple[str, np.ndarray]:
    dims: list[int] = []
    name, dtype, raw, floats = '', 0, None, []
    for f, w, v in _fields(buf):
        if f == 1:
            if w == 2:
                j = 0
                while j < len(v):
                    d, j = _varint(v, j)
                    dims.append(d)
            else:
                dims.append(v)
        elif f == 2:
            dtype = v
        elif f == 4:
            floats.extend(struct.unpack(f'<{len(v) // 4}f', v) if w == 2 else struct.unpack('<f', v))
        elif f == 8:
            name = v.decode('utf-8')
        elif f == 9:
            raw = v
    np_type = {1: '<f4', 6: '<i4', 7: '<i8'}.get(dtype)
    if np_type is None:
        return name, np.zeros(0)
    data = np.frombuffer(raw, dtype=np_type) if raw is not None else np.array(floats, dtype=np_type)
    return name, data.reshape(dims).copy()


def read_onnx(path: str) -> tuple[dict[str, np.ndarray], list[dict]]:
    """(initializers by name, nodes as {name, op, inputs, outputs})."""
    with open(path, 'rb') as f:
        model = f.read()
    graph = next(v for f, w, v in _fields(model) if f == 7)
    inits: dict[str, np.ndarray] = {}
    nodes: list[dict] = []
    for f, w, v in _fields(graph):
        if f == 5:
            name, value = _tensor(v)
            inits[name] = value
        elif f == 1:
            node = {'name': '', 'op': '', 'inputs': [], 'outputs': []}
            for nf, nw, nv in _fields(v):
                if nf == 1:
                    node['inputs'].append(nv.decode('utf-8'))
                elif nf == 2:
                    node['outputs'].append(nv.decode('utf-8'))
                elif nf == 3:
                    node['name'] = nv.decode('utf-8')
                elif nf == 4:
                    node['op'] = nv.decode('utf-8')
            nodes.append(node)
    return inits, nodes


def text_encoder_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The tiny-shapes TextEncoder's state dict from its export: parameters exported under their own names
    (`te.text_model...`), and the Linear weights the exporter stored transposed as MatMul inputs, found
    by the MatMul node's name (/te/layers.N/self_attn/q_proj/MatMul → text_model.encoder.layers.N....)."""
    inits, nodes = read_onnx(path)
    state: dict[str, torch.Tensor] = {}
    for name, value in inits.items():
        if name.startswith('te.'):
            state[name[3:]] = torch.from_numpy(value)
    for node in nodes:
        m = re.fullmatch(r'/te/(layers\.\d+)/(.+)/MatMul', node['name'])
        if node['op'] == 'MatMul' and m and node['inputs'][1] in inits:
            key = f"text_model.encoder.{m.group(1)}.{m.group(2).replace('/', '.')}.weight"
            state[key] = torch.from_numpy(inits[node['inputs'][1]].T.copy())
    return state
