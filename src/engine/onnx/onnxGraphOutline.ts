// The structure of an ONNX graph without its weights: graph inputs and outputs with element types and
// shapes, nodes (operator, domain, wiring, integer attributes) and initializers (name, type, shape).
// readOnnxGraphOutline walks model.onnx through a small window and seeks past tensor data, so a graph
// with gigabytes of inline weights costs a few megabytes of reads. model/inferConfig.ts infers the
// configs an export does not ship from it; onnxSession.ts explains a session that failed to load.
// Message and field numbers are onnx/onnx.proto's (ModelProto.graph 7; GraphProto node 1,
// initializer 5, input 11, output 12, value_info 13; TypeProto.tensor_type 1; TensorShapeProto.dim 1).
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { OnnxNode } from './onnxProto';
import { OnnxProtoError, ProtoReader, WIRE_BYTES, WIRE_FIXED32, WIRE_FIXED64, WIRE_VARINT } from './protobuf';

/** A graph input, output or value_info entry. */
export interface ValueOutline {
  readonly name: string;
  /** TensorProto.DataType (1 float, 10 float16, 7 int64...); undefined when not a tensor or not stated. */
  readonly elemType: number | undefined;
  /** Fixed sizes as numbers, symbolic ones as their names ('' when unnamed); undefined when the rank is unknown. */
  readonly dims: readonly (number | string)[] | undefined;
}

export interface NodeOutline extends OnnxNode {
  /** Integer and integer-list attributes (`strides`, `group`, `num_heads`...), by name. */
  readonly ints: ReadonlyMap<string, readonly number[]>;
}

export interface InitializerOutline {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
}

export interface OnnxGraphOutline {
  readonly inputs: readonly ValueOutline[];
  readonly outputs: readonly ValueOutline[];
  readonly valueInfo: readonly ValueOutline[];
  readonly nodes: readonly NodeOutline[];
  readonly initializers: readonly InitializerOutline[];
  /** Bytes read to build the outline (the window's reads, not the file's size). */
  readonly bytesRead: number;
}

/** The largest message read whole (a value_info, a node's name); larger attributes are skipped. */
const MAX_SMALL_MESSAGE = 1024 * 1024;
const MAX_ATTRIBUTE = 64 * 1024;
/** Caps against a crafted file: more metadata than any real diffusion graph has. */
const MAX_METADATA_BYTES = 512 * 1024 * 1024;
const MAX_NODES = 2_000_000;
const WINDOW = 16 * 1024;

interface ByteSource {
  readonly size: number;
  read(position: number, length: number): Uint8Array;
}

/** A protobuf reader over a byte source seen through a window: small reads are batched, skips cost nothing. */
class WindowCursor {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;
  bytesRead = 0;

  constructor(
    private readonly source: ByteSource,
    public pos: number,
    public end: number,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** `length` bytes from pos (a view into the window when they fit), moving past them. */
  take(length: number): Uint8Array {
    if (length > this.end - this.pos) throw new OnnxProtoError(`a field of ${length} bytes runs past the end of its enclosing message`, this.pos, this.end === this.source.size);
    const offset = this.pos - this.windowStart;
    if (offset < 0 || offset + length > this.window.length) {
      const size = Math.min(Math.max(length, WINDOW), this.source.size - this.pos);
      this.bytesRead += size;
      if (this.bytesRead > MAX_METADATA_BYTES) throw new OnnxProtoError(`more than ${MAX_METADATA_BYTES} bytes of graph structure`, this.pos, false);
      this.window = this.source.read(this.pos, size);
      this.windowStart = this.pos;
      if (this.window.length < length) throw new OnnxProtoError('the file ends inside a field', this.pos + this.window.length, true);
    }
    const start = this.pos - this.windowStart;
    this.pos += length;
    return this.window.subarray(start, start + length);
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new OnnxProtoError('the file ends inside a number', this.pos, this.end === this.source.size);
      const offset = this.pos - this.windowStart;
      const b = offset >= 0 && offset < this.window.length ? this.window[(this.pos++, offset)] : this.take(1)[0];
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new OnnxProtoError('malformed number (varint longer than 10 bytes)', this.pos, false);
  }

  /** A length-delimited field's payload as [start, end); the cursor moves past it without reading it. */
  span(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) throw new OnnxProtoError(`a field of ${length} bytes runs past the end of its enclosing message`, start, this.end === this.source.size);
    this.pos = start + length;
    return [start, start + length];
  }

  /** A small length-delimited payload, read whole. */
  bytes(limit = MAX_SMALL_MESSAGE): Uint8Array {
    const length = this.varint();
    if (length > limit) throw new OnnxProtoError(`a ${length}-byte field where at most ${limit} were expected`, this.pos, false);
    return this.take(length);
  }

  /** A ProtoReader over a small embedded message, read whole. */
  small(): ProtoReader {
    const bytes = this.bytes();
    return new ProtoReader(bytes, 0, bytes.length);
  }

  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_BYTES) this.span();
    else if (wireType === WIRE_FIXED64 || wireType === WIRE_FIXED32) {
      const n = wireType === WIRE_FIXED64 ? 8 : 4;
      if (n > this.end - this.pos) throw new OnnxProtoError('the file ends inside a fixed-size field', this.pos, true);
      this.pos += n;
    } else throw new OnnxProtoError(`unsupported protobuf wire type ${wireType}`, this.pos, false);
  }

  /** Visits the fields of the message [pos, end); `visit` consumes a field's value or returns false to skip it. */
  fields(visit: (field: number, wireType: number) => boolean): void {
    while (!this.done) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      if (field === 0) throw new OnnxProtoError('field number 0 is not valid protobuf', this.pos, false);
      if (!visit(field, key & 7)) this.skip(key & 7);
    }
  }

  /** Runs `body` over the sub-message [start, end), then restores the outer bounds and moves past it. */
  within(range: [number, number], body: () => void): void {
    const outerEnd = this.end;
    this.pos = range[0];
    this.end = range[1];
    try {
      body();
    } finally {
      this.pos = range[1];
      this.end = outerEnd;
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

function readValueInfo(r: ProtoReader): ValueOutline {
  let name = '';
  let elemType: number | undefined;
  let dims: (number | string)[] | undefined;
  r.fields((n, w) => {
    if (n === 1 && w === WIRE_BYTES) name = r.string();
    else if (n === 2 && w === WIRE_BYTES) {
      const type = r.sub();
      type.fields((tn, tw) => {
        if (tn !== 1 || tw !== WIRE_BYTES) return false; // tensor_type only
        const tensor = type.sub();
        tensor.fields((f, fw) => {
          if (f === 1 && fw === WIRE_VARINT) elemType = tensor.varint();
          else if (f === 2 && fw === WIRE_BYTES) {
            dims = [];
            const shape = tensor.sub();
            shape.fields((sn, sw) => {
              if (sn !== 1 || sw !== WIRE_BYTES) return false;
              const dim = shape.sub();
              let value: number | string = '';
              dim.fields((dn, dw) => {
                if (dn === 1 && dw === WIRE_VARINT) value = dim.int64();
                else if (dn === 2 && dw === WIRE_BYTES) value = dim.string();
                else return false;
                return true;
              });
              dims!.push(value);
              return true;
            });
          } else return false;
          return true;
        });
        return true;
      });
    } else return false;
    return true;
  });
  return { name, elemType, dims };
}

function readNode(c: WindowCursor): NodeOutline {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const ints = new Map<string, number[]>();
  let name = '';
  let opType = '';
  let domain = '';
  const text = () => utf8.decode(c.bytes());
  c.fields((n, w) => {
    if (w !== WIRE_BYTES) return false;
    if (n === 1) inputs.push(text());
    else if (n === 2) outputs.push(text());
    else if (n === 3) name = text();
    else if (n === 4) opType = text();
    else if (n === 7) domain = text();
    else if (n === 5) {
      const [start, end] = c.span();
      // Constant nodes may hold whole tensors in an attribute; only small ones are read.
      if (end - start > MAX_ATTRIBUTE) return true;
      c.pos = start;
      const bytes = c.take(end - start);
      const a = new ProtoReader(bytes, 0, bytes.length);
      let attrName = '';
      const values: number[] = [];
      a.fields((an, aw) => {
        if (an === 1 && aw === WIRE_BYTES) attrName = a.string();
        else if (an === 3 && aw === WIRE_VARINT) values.push(a.int64());
        else if (an === 8) a.repeated(aw, (p) => p.int64(), values, 1024);
        else return false;
        return true;
      });
      if (attrName && values.length > 0) ints.set(attrName, values);
    } else return false;
    return true;
  });
  return { name, opType, domain, inputs, outputs, ints };
}

function readInitializer(c: WindowCursor): InitializerOutline {
  const dims: number[] = [];
  let name = '';
  let dataType = 0;
  c.fields((n, w) => {
    if (n === 1 && w === WIRE_VARINT) dims.push(c.varint());
    else if (n === 1 && w === WIRE_BYTES) {
      const packed = c.small();
      while (!packed.done) dims.push(packed.int64());
    } else if (n === 2 && w === WIRE_VARINT) dataType = c.varint();
    else if (n === 8 && w === WIRE_BYTES) name = utf8.decode(c.bytes());
    // raw_data, typed data and external-data entries are skipped: only the shape is wanted.
    else return false;
    return true;
  });
  return { name, dataType, dims };
}

function outline(source: ByteSource): OnnxGraphOutline {
  const c = new WindowCursor(source, 0, source.size);
  const inputs: ValueOutline[] = [];
  const outputs: ValueOutline[] = [];
  const valueInfo: ValueOutline[] = [];
  const nodes: NodeOutline[] = [];
  const initializers: InitializerOutline[] = [];
  let sawGraph = false;
  c.fields((field, wire) => {
    if (field !== 7 || wire !== WIRE_BYTES) return false;
    sawGraph = true;
    c.within(c.span(), () =>
      c.fields((n, w) => {
        if (w !== WIRE_BYTES) return false;
        if (n === 1) {
          if (nodes.length >= MAX_NODES) throw new OnnxProtoError(`more than ${MAX_NODES} nodes`, c.pos, false);
          c.within(c.span(), () => nodes.push(readNode(c)));
        } else if (n === 5) c.within(c.span(), () => initializers.push(readInitializer(c)));
        else if (n === 11) inputs.push(readValueInfo(c.small()));
        else if (n === 12) outputs.push(readValueInfo(c.small()));
        else if (n === 13) valueInfo.push(readValueInfo(c.small()));
        else return false;
        return true;
      }),
    );
    return true;
  });
  if (!sawGraph) throw new OnnxProtoError('no graph found (this is not an ONNX model)', source.size, false);
  return { inputs, outputs, valueInfo, nodes, initializers, bytesRead: c.bytesRead };
}

/** The outline of a model held in memory. Throws OnnxProtoError when the bytes are not an ONNX model. */
export function onnxGraphOutline(bytes: Uint8Array): OnnxGraphOutline {
  return outline({ size: bytes.length, read: (position, length) => bytes.subarray(position, position + length) });
}

/**
 * The outline of the model file at `path`, read synchronously through a small window. The file must be
 * a regular file (a FIFO or device is refused before any read). Throws the OS error when it cannot be
 * opened, OnnxProtoError when it is not an ONNX model.
 */
export function readOnnxGraphOutline(path: string): OnnxGraphOutline {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new OnnxProtoError('not a regular file (a folder, device, FIFO or socket is never read)', 0, false);
    return outline({
      size: stat.size,
      read(position, length) {
        const out = Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
          const n = readSync(fd, out, done, length - done, position + done);
          if (n === 0) break;
          done += n;
        }
        return out.subarray(0, done);
      },
    });
  } finally {
    closeSync(fd);
  }
}
