/**
 * Delta apply: the TypeScript side of proto/DELTA.md.
 *
 * applyPatch never mutates its input. It returns a new message that shares
 * every untouched sub-message, list and map with the baseline (copy on
 * write), so keeping a ring of recent states costs only what changed each
 * tick. States handed out by the SDK are therefore read-only by contract:
 * mutate a clone (protobuf-es `clone`) if you need to.
 *
 * Decisions where DELTA.md is silent:
 *  - A removed map key that is absent from the baseline is ignored (removal
 *    is idempotent); a PATCHed key that is absent is refused.
 *  - CLEAR of a oneof member that is not the active case is a no-op.
 *  - PATCH of an implicit-presence scalar holding its zero value is refused,
 *    because Go's Has() reports it unset, so Go's Diff never emits it.
 *  - Message values (SET of a message field, list element or map value) are
 *    decoded with protobuf-es fromBinary; unknown fields inside them are kept
 *    by protobuf-es but never produced by the Go encoder.
 */
import {
  ScalarType,
  clearField,
  fromBinary,
  isFieldSet,
  type DescField,
  type DescMessage,
  type MessageShape,
} from "@bufbuild/protobuf";
import { PatchError } from "./errors.js";
import { Reader, unzigzag32, unzigzag64 } from "./reader.js";
import type { DeepReadonly } from "./readonly.js";

// biome-ignore lint: dynamic access to generated message objects.
type Obj = Record<string, any>;

/**
 * Fields by ascending field number, memoised per descriptor. The memo only
 * holds values derived from immutable descriptors, so sharing it is safe.
 */
const sortedFieldsMemo = /*@__PURE__*/ new WeakMap<DescMessage, readonly DescField[]>();

function sortedFields(desc: DescMessage): readonly DescField[] {
  let f = sortedFieldsMemo.get(desc);
  if (f === undefined) {
    f = [...desc.fields].sort((a, b) => a.number - b.number);
    sortedFieldsMemo.set(desc, f);
  }
  return f;
}

/**
 * applyPatch returns the state `patch` (proto/DELTA.md) turns `base` into.
 * `base` is left untouched. Throws {@link PatchError} for a patch that must be
 * refused (truncated, trailing bytes, PATCH on a kind without a patch form or
 * on a field missing from the baseline, op for a field past the message's
 * fields, undecodable value).
 */
export function applyPatch<Desc extends DescMessage>(
  schema: Desc,
  base: MessageShape<Desc> | DeepReadonly<MessageShape<Desc>>,
  patch: Uint8Array,
): MessageShape<Desc> {
  const r = new Reader(patch);
  const out = patchMessage(schema, base as Obj, r);
  if (r.remaining !== 0) {
    throw new PatchError("trailing", `${r.remaining} bytes after the patch`);
  }
  return out as MessageShape<Desc>;
}

const KEEP = 0;
const SET = 1;
const CLEAR = 2;
const PATCH = 3;

/** Shallow copy that keeps the prototype (proto2 defaults live there). */
function shallowCopy(m: Obj): Obj {
  return Object.assign(Object.create(Object.getPrototypeOf(m)) as Obj, m);
}

/**
 * Reads a mask: a LEB128 bit string, 2 bits per field. Returns the op codes
 * of the first n fields; extra bits must be zero.
 */
function readMask(r: Reader, n: number): Uint8Array {
  const ops = new Uint8Array(n);
  let bit = 0;
  for (;;) {
    const b = r.byte();
    const group = b & 0x7f;
    for (let i = 0; i < 7; i++, bit++) {
      if ((group >> i) & 1) {
        const field = bit >> 1;
        if (field >= n) {
          throw new PatchError("field-index", `op for field index ${field}, message has ${n} fields`);
        }
        ops[field]! |= 1 << (bit & 1);
      }
    }
    if ((b & 0x80) === 0) return ops;
  }
}

function patchMessage(desc: DescMessage, base: Obj, r: Reader): Obj {
  const fields = sortedFields(desc);
  const ops = readMask(r, fields.length);
  let out: Obj | undefined;
  for (let i = 0; i < fields.length; i++) {
    const op = ops[i]!;
    if (op === KEEP) continue;
    out ??= shallowCopy(base);
    const f = fields[i]!;
    switch (op) {
      case SET:
        setField(out, f, readFieldValue(f, r));
        break;
      case CLEAR:
        clearFieldOf(out, f);
        break;
      case PATCH:
        patchField(out, f, r);
        break;
    }
  }
  return out ?? base;
}

function setField(m: Obj, f: DescField, v: unknown): void {
  if (f.oneof) {
    m[f.oneof.localName] = { case: f.localName, value: v };
  } else {
    m[f.localName] = v;
  }
}

function clearFieldOf(m: Obj, f: DescField): void {
  // clearField replaces containers and oneof objects rather than mutating
  // them, except for explicit presence where it deletes an own property of
  // our copy; either way the baseline is untouched.
  clearField(m as never, f);
}

/** The value a SET op carries for field f. */
function readFieldValue(f: DescField, r: Reader): unknown {
  switch (f.fieldKind) {
    case "scalar":
      return readScalar(r, f.scalar, f.longAsString);
    case "enum":
      return readEnum(r);
    case "message":
      return readMessage(r, f.message);
    case "list": {
      const n = r.count(1);
      const out: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) {
        out[i] =
          f.listKind === "scalar"
            ? readScalar(r, f.scalar, f.longAsString)
            : f.listKind === "enum"
              ? readEnum(r)
              : readMessage(r, f.message);
      }
      return out;
    }
    case "map": {
      const n = r.count(2);
      const out: Obj = {};
      for (let i = 0; i < n; i++) {
        const k = readMapKey(r, f.mapKey);
        out[k] = readMapValue(r, f);
      }
      return out;
    }
  }
}

function readMapValue(r: Reader, f: DescField & { fieldKind: "map" }): unknown {
  switch (f.mapKind) {
    case "scalar":
      return readScalar(r, f.scalar, false);
    case "enum":
      return readEnum(r);
    case "message":
      return readMessage(r, f.message);
  }
}

function readEnum(r: Reader): number {
  return r.varint32() | 0;
}

function readMessage(r: Reader, desc: DescMessage): Obj {
  const bytes = r.lengthDelimited();
  try {
    return fromBinary(desc, bytes) as Obj;
  } catch (e) {
    throw new PatchError("bad-value", `message ${desc.typeName} does not decode: ${String(e)}`);
  }
}

function long(v: bigint, asString: boolean): bigint | string {
  return asString ? v.toString() : v;
}

function readScalar(r: Reader, t: ScalarType, longAsString: boolean): unknown {
  switch (t) {
    case ScalarType.DOUBLE:
      return r.double();
    case ScalarType.FLOAT:
      return r.float();
    case ScalarType.INT64:
      return long(BigInt.asIntN(64, r.varint64()), longAsString);
    case ScalarType.UINT64:
      return long(r.varint64(), longAsString);
    case ScalarType.INT32:
      return r.varint32() | 0;
    case ScalarType.FIXED64:
      return long(r.fixed64(), longAsString);
    case ScalarType.FIXED32:
      return r.fixed32();
    case ScalarType.BOOL:
      return r.varint64() !== 0n;
    case ScalarType.STRING:
      return r.string();
    case ScalarType.BYTES:
      return r.lengthDelimited().slice();
    case ScalarType.UINT32:
      return r.varint32();
    case ScalarType.SFIXED32:
      return r.sfixed32();
    case ScalarType.SFIXED64:
      return long(r.sfixed64(), longAsString);
    case ScalarType.SINT32:
      return unzigzag32(r.varint32());
    case ScalarType.SINT64:
      return long(unzigzag64(r.varint64()), longAsString);
  }
  throw new PatchError("bad-value", `unknown scalar type ${t as number}`);
}

/** Map keys as protobuf-es stores them: the property name string. */
function readMapKey(r: Reader, t: ScalarType): string {
  const v = readScalar(r, t, true);
  return String(v);
}

/** Kinds that have an integer PATCH form. */
function isIntegerKind(t: ScalarType): boolean {
  return t !== ScalarType.DOUBLE && t !== ScalarType.FLOAT && t !== ScalarType.BOOL &&
    t !== ScalarType.STRING && t !== ScalarType.BYTES;
}

function is64(t: ScalarType): boolean {
  return t === ScalarType.INT64 || t === ScalarType.UINT64 || t === ScalarType.FIXED64 ||
    t === ScalarType.SFIXED64 || t === ScalarType.SINT64;
}

function isSigned64(t: ScalarType): boolean {
  return t === ScalarType.INT64 || t === ScalarType.SFIXED64 || t === ScalarType.SINT64;
}

function isUnsigned32(t: ScalarType): boolean {
  return t === ScalarType.UINT32 || t === ScalarType.FIXED32;
}

/** base + zigzag delta, wrapping in the width of kind t. */
function addIntegerDelta(r: Reader, t: ScalarType, base: unknown, longAsString: boolean): unknown {
  if (is64(t)) {
    const d = unzigzag64(r.varint64());
    const b = BigInt(base as bigint | string);
    const sum = b + d;
    return long(isSigned64(t) ? BigInt.asIntN(64, sum) : BigInt.asUintN(64, sum), longAsString);
  }
  const d = unzigzag32(r.varint32());
  const sum = (base as number) + d;
  return isUnsigned32(t) ? sum >>> 0 : sum | 0;
}

function patchField(m: Obj, f: DescField, r: Reader): void {
  switch (f.fieldKind) {
    case "scalar": {
      if (!isIntegerKind(f.scalar)) {
        throw new PatchError("bad-op", `PATCH on ${f.name} (${ScalarType[f.scalar]})`);
      }
      if (!isFieldSet(m as never, f)) {
        throw new PatchError("missing-baseline", `PATCH of ${f.name}, unset in the baseline`);
      }
      const cur = f.oneof ? (m[f.oneof.localName] as Obj).value : m[f.localName];
      setField(m, f, addIntegerDelta(r, f.scalar, cur, f.longAsString));
      return;
    }
    case "message": {
      if (!isFieldSet(m as never, f)) {
        throw new PatchError("missing-baseline", `PATCH of ${f.name}, unset in the baseline`);
      }
      const cur = (f.oneof ? (m[f.oneof.localName] as Obj).value : m[f.localName]) as Obj;
      setField(m, f, patchMessage(f.message, cur, r));
      return;
    }
    case "map":
      m[f.localName] = patchMap(f, m[f.localName] as Obj, r);
      return;
    default:
      throw new PatchError("bad-op", `PATCH on ${f.fieldKind} field ${f.name}`);
  }
}

function patchMap(f: DescField & { fieldKind: "map" }, base: Obj, r: Reader): Obj {
  const out: Obj = { ...base };
  const nRemoved = r.count(1);
  for (let i = 0; i < nRemoved; i++) {
    delete out[readMapKey(r, f.mapKey)];
  }
  const nSet = r.count(2);
  for (let i = 0; i < nSet; i++) {
    const k = readMapKey(r, f.mapKey);
    out[k] = readMapValue(r, f);
  }
  const nPatched = r.count(2);
  for (let i = 0; i < nPatched; i++) {
    const k = readMapKey(r, f.mapKey);
    if (!Object.prototype.hasOwnProperty.call(out, k)) {
      throw new PatchError("missing-baseline", `PATCH of ${f.name}[${k}], absent in the baseline`);
    }
    switch (f.mapKind) {
      case "message":
        out[k] = patchMessage(f.message, out[k] as Obj, r);
        break;
      case "scalar":
        if (!isIntegerKind(f.scalar)) {
          throw new PatchError("bad-op", `PATCH of ${f.name}[${k}] (${ScalarType[f.scalar]})`);
        }
        out[k] = addIntegerDelta(r, f.scalar, out[k], false);
        break;
      default:
        throw new PatchError("bad-op", `PATCH of enum map value ${f.name}[${k}]`);
    }
  }
  return out;
}
