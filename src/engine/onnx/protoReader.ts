// A bounds-checked protobuf wire-format reader over a byte range (the encoding spec's varints,
// length-delimited fields, fixed32/64), shared by the ONNX model reader and the graph rewriter. Every
// error is an OnnxProtoError with the offset where reading failed.
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

  /** A varint read as a two's-complement int64 (negative attribute values take 10 bytes). */
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

  span(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) {
      throw new OnnxProtoError(`a field of ${length} bytes runs past the end of its enclosing message`, start, this.end === this.bytes.length);
    }
    this.pos = start + length;
    return [start, start + length];
  }

  sub(): ProtoReader {
    const [start, end] = this.span();
    return new ProtoReader(this.bytes, start, end);
  }

  string(): string {
    const [start, end] = this.span();
    return new TextDecoder('utf-8', { fatal: false }).decode(this.bytes.subarray(start, end));
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

  /** Repeated scalars, packed (wire type 2) or one per field. */
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
