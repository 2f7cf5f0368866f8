/**
 * A bounds-checked reader over a byte array for the primitives of the delta
 * format (proto/DELTA.md): varints, zigzag, fixed-width little-endian numbers,
 * length-prefixed strings and bytes. Every read past the end throws a
 * {@link PatchError} with code "truncated"; nothing here can read out of
 * bounds or loop on hostile lengths.
 *
 * Not thread-safe (there are no threads in a page); one reader per patch.
 */
import { PatchError } from "./errors.js";

const textDecoder = /*@__PURE__*/ new TextDecoder("utf-8", { fatal: true });

export class Reader {
  pos = 0;
  private readonly view: DataView;

  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Reads one byte. */
  byte(): number {
    if (this.pos >= this.buf.length) throw new PatchError("truncated", "unexpected end of patch");
    return this.buf[this.pos++]!;
  }

  /**
   * Reads a varint of at most 10 bytes as a uint64 bigint. Used for 64-bit
   * kinds; 32-bit kinds use {@link varint32} on the hot path.
   */
  varint64(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    throw new PatchError("bad-value", "varint longer than 10 bytes");
  }

  /**
   * Reads a varint and returns its low 32 bits as an unsigned number. Like
   * protobuf, a 10-byte varint (a negative int32 sign-extended to 64 bits) is
   * accepted and truncated.
   */
  varint32(): number {
    let result = 0;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      if (i < 5) result |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return result >>> 0;
    }
    throw new PatchError("bad-value", "varint longer than 10 bytes");
  }

  /**
   * Reads a count or length varint and checks it against the bytes left,
   * given that each counted item takes at least minItemBytes bytes, so a
   * hostile count cannot make a caller loop or allocate without bound.
   */
  count(minItemBytes = 1): number {
    const v = this.varint64();
    if (v > BigInt(this.remaining) / BigInt(Math.max(1, minItemBytes)) && minItemBytes > 0) {
      throw new PatchError("truncated", `count ${v} exceeds the ${this.remaining} bytes left`);
    }
    return Number(v);
  }

  /** Reads a length-prefixed byte string (a view, not a copy). */
  lengthDelimited(): Uint8Array {
    const n = this.count(1);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    try {
      return textDecoder.decode(this.lengthDelimited());
    } catch (e) {
      if (e instanceof PatchError) throw e;
      throw new PatchError("bad-value", "invalid UTF-8 in string");
    }
  }

  private need(n: number): number {
    if (this.remaining < n) throw new PatchError("truncated", "unexpected end of patch");
    const p = this.pos;
    this.pos += n;
    return p;
  }

  fixed32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  sfixed32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  fixed64(): bigint {
    return this.view.getBigUint64(this.need(8), true);
  }
  sfixed64(): bigint {
    return this.view.getBigInt64(this.need(8), true);
  }
  float(): number {
    return this.view.getFloat32(this.need(4), true);
  }
  double(): number {
    return this.view.getFloat64(this.need(8), true);
  }
}

/** Decodes a 32-bit zigzag value (protobuf sint32) from its unsigned form. */
export function unzigzag32(u: number): number {
  return (u >>> 1) ^ -(u & 1);
}

/** Decodes a 64-bit zigzag value (protobuf sint64) from its unsigned form. */
export function unzigzag64(u: bigint): bigint {
  return BigInt.asIntN(64, (u >> 1n) ^ -(u & 1n));
}
