/**
 * Read-only states. The SDK hands out states that share structure with the
 * baselines later patches are applied to (copy on write, see applyPatch), so
 * a state must never be mutated: DeepReadonly says so in the types, and the
 * client's `dev` option enforces it at run time with deepFreeze.
 */

/** Values DeepReadonly leaves as they are. */
type Leaf = string | number | boolean | bigint | symbol | undefined | null | Uint8Array | ((...args: never[]) => unknown);

/**
 * T with every property, array and map read-only, all the way down. For a
 * protobuf-es message: fields, repeated fields (ReadonlyArray), map fields
 * and nested messages. `bytes` fields stay Uint8Array (a typed array has no
 * read-only type; treat it as read-only too). To change a state, copy it:
 * protobuf-es `clone(Schema, state as State)`.
 */
export type DeepReadonly<T> = T extends Leaf
  ? T
  : T extends ReadonlyArray<infer E>
    ? ReadonlyArray<DeepReadonly<E>>
    : { readonly [K in keyof T]: DeepReadonly<T[K]> };

/**
 * deepFreeze freezes v and every object reachable from it (Object.freeze),
 * except typed arrays, which cannot be frozen. An object that is already
 * frozen is taken as frozen all the way down and not walked again, so
 * freezing a patched state costs only its new parts.
 */
export function deepFreeze<T>(v: T): DeepReadonly<T> {
  freeze(v);
  return v as DeepReadonly<T>;
}

function freeze(v: unknown): void {
  if (typeof v !== "object" || v === null || ArrayBuffer.isView(v) || Object.isFrozen(v)) return;
  // Children first: a frozen object then always has frozen descendants.
  for (const k of Object.keys(v)) freeze((v as Record<string, unknown>)[k]);
  Object.freeze(v);
}
