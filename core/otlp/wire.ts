/**
 * The protobuf wire format (protobuf.dev/programming-guides/encoding), as
 * much as OTLP's requests use: varints, 64-bit fixed fields, and
 * length-delimited fields (strings, bytes, nested messages, packed lists);
 * 32-bit fields are skipped. Every read is bounds-checked and a failure
 * names the byte offset, so a truncated or corrupt body is refused with its
 * position, never read past its end. Hand-written rather than generated:
 * the JavaScript protobuf runtimes either build decoders with `new
 * Function` (forbidden on Workers) or ship OTLP's encoders only
 * (`@opentelemetry/otlp-transformer`), and OTLP needs a few dozen lines.
 */

export class WireError extends Error {
  constructor(readonly offset: number, message: string) {
    super(`${message} at byte ${offset}`);
  }
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH = 2;
export const WIRE_FIXED32 = 5;

export class WireReader {
  pos: number;
  constructor(private readonly bytes: Uint8Array, start = 0, readonly end = bytes.length) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a number; exact up to 2⁵³ (larger values lose their low bits, which OTLP's counts and enums never need). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError(this.pos, "truncated varint");
      const byte = this.bytes[this.pos++] as number;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    throw new WireError(this.pos, "varint longer than 10 bytes");
  }

  /** A varint as a signed 64-bit integer (int64 fields: two's complement), as a number. */
  int64(): number {
    const start = this.pos;
    // Small non-negative values (up to 7 bytes, < 2⁴⁹) need no BigInt.
    for (let i = 0; i < 7 && this.pos + i < this.end; i++) {
      if ((this.bytes[this.pos + i] as number) < 0x80) return this.varint();
    }
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError(this.pos, "truncated varint");
      const byte = this.bytes[this.pos++] as number;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return Number(BigInt.asIntN(64, value));
      shift += 7n;
    }
    throw new WireError(start, "varint longer than 10 bytes");
  }

  /** A field's tag: its number and wire type. */
  tag(): { field: number; wire: number } {
    const at = this.pos;
    const key = this.varint();
    const field = Math.floor(key / 8);
    if (field === 0) throw new WireError(at, "field number 0");
    return { field, wire: key % 8 };
  }

  /** 8 little-endian bytes as an unsigned 64-bit integer. */
  fixed64(): bigint {
    if (this.pos + 8 > this.end) throw new WireError(this.pos, "truncated 64-bit field");
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8);
    this.pos += 8;
    return view.getBigUint64(0, true);
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new WireError(this.pos, "truncated double");
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8);
    this.pos += 8;
    return view.getFloat64(0, true);
  }

  /** A length-delimited field's extent, as a reader over it. */
  nested(): WireReader {
    const at = this.pos;
    const length = this.varint();
    if (this.pos + length > this.end) throw new WireError(at, `length ${length} runs past the end of its message`);
    const reader = new WireReader(this.bytes, this.pos, this.pos + length);
    this.pos += length;
    return reader;
  }

  bytesField(): Uint8Array {
    const r = this.nested();
    return this.bytes.subarray(r.pos, r.end);
  }

  string(): string {
    const at = this.pos;
    const bytes = this.bytesField();
    // Keys and most values are short ASCII: built directly, which is several times faster than a TextDecoder call.
    if (bytes.length <= 64) {
      let ascii = "";
      let i = 0;
      for (; i < bytes.length; i++) {
        const b = bytes[i] as number;
        if (b >= 0x80) break;
        ascii += String.fromCharCode(b);
      }
      if (i === bytes.length) return ascii;
    }
    try {
      return UTF8.decode(bytes);
    } catch {
      throw new WireError(at, "a string that is not UTF-8");
    }
  }

  /** Skips a field this decoder does not read (unknown fields are ignored, as protobuf requires). */
  skip(wire: number): void {
    const at = this.pos;
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_FIXED64) this.advance(8);
    else if (wire === WIRE_LENGTH) this.nested();
    else if (wire === WIRE_FIXED32) this.advance(4);
    else throw new WireError(at, `wire type ${wire} (groups are not used by OTLP)`);
  }

  /** Checks a field's wire type is the one its schema says. */
  expect(wire: number, want: number, field: string): void {
    if (wire !== want) throw new WireError(this.pos, `${field} has wire type ${wire}, not ${want}`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new WireError(this.pos, "truncated field");
    this.pos += n;
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** A small protobuf writer for OTLP's answers (partial success, status). */
export class WireWriter {
  private parts: number[] = [];

  varintField(field: number, value: number): this {
    if (value === 0) return this;
    this.varint(field * 8 + WIRE_VARINT);
    this.varint(value);
    return this;
  }

  stringField(field: number, value: string): this {
    if (value === "") return this;
    return this.bytesField(field, new TextEncoder().encode(value));
  }

  bytesField(field: number, value: Uint8Array): this {
    this.varint(field * 8 + WIRE_LENGTH);
    this.varint(value.length);
    for (const b of value) this.parts.push(b);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }

  private varint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.parts.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    this.parts.push(v);
  }
}
