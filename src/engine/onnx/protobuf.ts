// The protobuf wire format (the encoding spec's varints, length-delimited fields, fixed32/64), once, for
// every ONNX message the engine reads or writes: a bounds-checked reader over a byte range and a writer
// that appends fields to a list of chunks. Every read error is an OnnxProtoError with the offset where
// reading failed.

/** The file is not a well-formed ONNX protobuf; `offset` is where reading failed. */
export class OnnxProtoError extends Error {
  override readonly name = 'OnnxProtoError';
  constructor(
    message: string,
    readonly offset: number,
    readonly truncated: boolean,
  ) {
    super(message);
  }
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: false });

export class ProtoReader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint that must fit a non-negative double exactly (keys, lengths). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new OnnxProtoError('the file ends inside a number', this.pos, true);
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new OnnxProtoError('malformed number (varint longer than 10 bytes)', this.pos, false);
  }

  /** A varint read as a two's-complement int64 (negative values take 10 bytes). */
  int64(): number {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new OnnxProtoError('the file ends inside a number', this.pos, true);
      const b = this.bytes[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return Number(BigInt.asIntN(64, result));
      shift += 7n;
    }
    throw new OnnxProtoError('malformed number (varint longer than 10 bytes)', this.pos, false);
  }

  float32(): number {
    this.need(4);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  float64(): number {
    this.need(8);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  /** A length-delimited value: its payload's [start, end), which the reader moves past. */
  span(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) {
      throw new OnnxProtoError(`a field of ${length} bytes runs past the end of its enclosing message`, start, this.end === this.bytes.length);
    }
    this.pos = start + length;
    return [start, start + length];
  }

  /** A reader over an embedded message's payload. */
  sub(): ProtoReader {
    const [start, end] = this.span();
    return new ProtoReader(this.bytes, start, end);
  }

  string(): string {
    const [start, end] = this.span();
    return utf8.decode(this.bytes.subarray(start, end));
  }

  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_FIXED64) this.advance(8);
    else if (wireType === WIRE_BYTES) this.span();
    else if (wireType === WIRE_FIXED32) this.advance(4);
    else throw new OnnxProtoError(`unsupported protobuf wire type ${wireType}`, this.pos, false);
  }

  /** Calls `field` for each field with the field's start offset; it consumes the value or returns false to skip it. */
  fields(field: (fieldNumber: number, wireType: number, start: number) => boolean): void {
    while (!this.done) {
      const start = this.pos;
      const key = this.varint();
      const fieldNumber = Math.floor(key / 8);
      if (fieldNumber === 0) throw new OnnxProtoError('field number 0 is not valid protobuf', this.pos, false);
      if (!field(fieldNumber, key & 7, start)) this.skip(key & 7);
    }
  }

  /** Repeated scalars, packed (wire type 2) or one per field; values past `limit` are read and dropped. */
  repeated(wireType: number, one: (r: ProtoReader) => number, into: number[], limit: number): void {
    if (wireType === WIRE_BYTES) {
      const p = this.sub();
      while (!p.done) {
        const v = one(p);
        if (into.length < limit) into.push(v);
      }
    } else {
      const v = one(this);
      if (into.length < limit) into.push(v);
    }
  }

  private need(n: number): void {
    if (n > this.end - this.pos) throw new OnnxProtoError('the file ends inside a fixed-size field', this.pos, this.end === this.bytes.length);
  }

  private advance(n: number): void {
    this.need(n);
    this.pos += n;
  }
}

const utf8Encoder = new TextEncoder();

/** Appends protobuf fields to a growing list of chunks; `finish` joins them. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  get byteLength(): number {
    return this.length;
  }

  /** Appends bytes already encoded (a field copied from another message), without copying them. */
  raw(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }

  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) b |= 0x80;
      out.push(b);
    } while (v !== 0n);
    return this.raw(Uint8Array.from(out));
  }

  key(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  int(field: number, value: number): this {
    return this.key(field, WIRE_VARINT).varint(value);
  }

  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.key(field, WIRE_FIXED32).raw(b);
  }

  bytes(field: number, payload: Uint8Array): this {
    return this.key(field, WIRE_BYTES).varint(payload.length).raw(payload);
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8Encoder.encode(value));
  }

  /** Appends a length-delimited field holding `inner`'s bytes, without copying them. */
  embed(field: number, inner: ProtoWriter): this {
    this.key(field, WIRE_BYTES).varint(inner.length);
    for (const c of inner.chunks) this.raw(c);
    return this;
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    build(w);
    return this.embed(field, w);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}
