package netcode

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Delta op codes (proto/DELTA.md, "Message patch").
const (
	opKeep  = 0
	opSet   = 1
	opClear = 2
	opPatch = 3
)

// MaxDepth is the deepest message nesting Diff and Apply accept (the top-level
// message is depth 1). Deeper messages fail with ErrTooDeep; it bounds the
// recursion an untrusted patch can cause.
const MaxDepth = 64

// Sentinel errors of the delta codec. Errors returned by Diff and Apply wrap
// one of them (test with errors.Is); the wrapping message says where.
var (
	// ErrMalformedPatch: the patch is truncated, has trailing bytes, uses an op
	// a field does not have, patches something missing from the state, or
	// holds a value that does not decode.
	ErrMalformedPatch = errors.New("netcode: malformed patch")
	// ErrTypeMismatch: the two messages given to Diff are of different types.
	ErrTypeMismatch = errors.New("netcode: message type mismatch")
	// ErrTooDeep: message nesting exceeds MaxDepth.
	ErrTooDeep = errors.New("netcode: message nesting too deep")
	// ErrInvalidMessage: Apply got a nil or read-only message.
	ErrInvalidMessage = errors.New("netcode: invalid message")
)

var (
	marshalOpts   = proto.MarshalOptions{Deterministic: true}
	unmarshalOpts = proto.UnmarshalOptions{DiscardUnknown: true, RecursionLimit: MaxDepth}
)

// Diff returns the patch that turns base into cur (proto/DELTA.md). base and
// cur must be of the same message type; a nil-pointer base (e.g.
// (*T)(nil)) is treated as the empty message. The output is deterministic:
// the same pair always gives the same bytes.
func Diff(base, cur proto.Message) ([]byte, error) {
	return AppendDiff(nil, base, cur)
}

// AppendDiff appends the patch that turns base into cur to dst and returns the
// extended buffer. It is the allocation-free form of Diff once dst has grown
// to size, but it sets up a new Differ each call: keep a Differ to reuse its
// scratch space. On error dst is returned truncated to its original length.
func AppendDiff(dst []byte, base, cur proto.Message) ([]byte, error) {
	var d Differ
	return d.AppendDiff(dst, base, cur)
}

// Differ computes patches, reusing its scratch space across calls. The zero
// value is ready to use. A Differ is not safe for concurrent use; keep one
// per goroutine (the Replicator owns one).
type Differ struct {
	levels []*diffLevel // by depth; pointers stay put while levels grows
	types  goTypes
	cache  *DiffCache // nil: none
	vw     viewDiff   // appendView's, during the call
}

// DiffCache lets the Differs of one send tick share the patches of map
// fields whose base and current values are the same two map objects in
// several diffs, so that each is computed once. Filtered views
// (ViewFilter.View) share every field but the filtered one with their
// snapshot: without the cache each client's patch walks the whole of the
// other maps again. Reset it before each send tick; the snapshots it was
// filled from must not change meanwhile (Replicator.Commit reuses them).
// Not safe for concurrent use.
//
// The cache also keeps the patches of the entities of filtered views
// (ViewEncoder): an entity seen by many clients is diffed once per pair
// of snapshots.
type DiffCache struct {
	m    map[[2]unsafe.Pointer]cachedPatch
	ents map[entKey]cachedPatch
	buf  []byte
}

// entKey is an entity of a filtered map: the base and current maps and
// the entity's key (keyOrd).
type entKey struct {
	maps [2]unsafe.Pointer
	ord  uint64
}

type cachedPatch struct {
	lo, hi int
	op     int
}

// Reset forgets every cached patch, keeping the memory.
func (c *DiffCache) Reset() {
	clear(c.m)
	clear(c.ents)
	c.buf = c.buf[:0]
}

// diffLevel is the scratch space of one message depth.
type diffLevel struct {
	ents []mapEnt
	buf  []byte // nested patches of patched map entries
	scratch
}

const (
	entRemoved = iota
	entSet
	entPatched
)

// mapEnt is a map entry that changed. Only changed entries are collected
// and sorted: unchanged ones cost a lookup and a comparison.
type mapEnt struct {
	ord        uint64             // integer and bool keys, order-preserving (keyOrd)
	str        string             // string keys
	v          protoreflect.Value // new value, for entSet
	start, end int32              // patch bytes in the level's buf, for entPatched
	class      uint8
}

// AppendDiff is like the package-level AppendDiff.
func (d *Differ) AppendDiff(dst []byte, base, cur proto.Message) ([]byte, error) {
	if base == nil || cur == nil {
		return dst, fmt.Errorf("nil message: %w", ErrTypeMismatch)
	}
	b, c := base.ProtoReflect(), cur.ProtoReflect()
	if err := sameType(b.Descriptor(), c.Descriptor()); err != nil {
		return dst, err
	}
	n := len(dst)
	out, err := d.appendMessage(dst, b, c, 1)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

func sameType(a, b protoreflect.MessageDescriptor) error {
	if a != b && a.FullName() != b.FullName() {
		return fmt.Errorf("%s vs %s: %w", a.FullName(), b.FullName(), ErrTypeMismatch)
	}
	return nil
}

// fieldOrder calls f for each field of md in ascending field number order.
// Generated descriptors almost always declare fields in number order; only
// when they do not is a sorted index built.
func fieldAt(fields protoreflect.FieldDescriptors, order []int, i int) protoreflect.FieldDescriptor {
	if order == nil {
		return fields.Get(i)
	}
	return fields.Get(order[i])
}

// sortedOrder returns nil when fields are declared in number order, else the
// index permutation that sorts them. buf is scratch space.
func sortedOrder(fields protoreflect.FieldDescriptors, buf []int) []int {
	n := fields.Len()
	sorted := true
	for i := 1; i < n; i++ {
		if fields.Get(i).Number() < fields.Get(i-1).Number() {
			sorted = false
			break
		}
	}
	if sorted {
		return nil
	}
	order := buf[:0]
	for i := 0; i < n; i++ {
		order = append(order, i)
	}
	slices.SortFunc(order, func(a, b int) int { return int(fields.Get(a).Number()) - int(fields.Get(b).Number()) })
	return order
}

func maskLen(n int) int {
	if n == 0 {
		return 1
	}
	return (2*n + 6) / 7
}

func (d *Differ) appendMessage(dst []byte, b, c protoreflect.Message, depth int) ([]byte, error) {
	if cp, cgs, ok := d.types.lookup(c); ok {
		if bp, bgs, ok := d.types.lookup(b); ok && bgs == cgs {
			return d.appendStruct(dst, b, c, bp, cp, cgs, depth)
		}
	}
	return d.appendStruct(dst, b, c, nil, nil, nil, depth)
}

// appendStruct writes the MessagePatch from b to c. When gs is not nil, b
// and c are generated messages of its type at addresses bp and cp: fields
// are then read straight from the structs, and b and c may be nil (they
// are derived from bp and cp when a field needs them).
func (d *Differ) appendStruct(dst []byte, b, c protoreflect.Message, bp, cp unsafe.Pointer, gs *goStruct, depth int) ([]byte, error) {
	return d.appendStructView(dst, b, c, bp, cp, gs, depth, nil)
}

// appendStructView is appendStruct; with vw not nil (and gs not nil), b
// and c are two snapshots and the patch is the one between their views
// (see viewDiff): field vw.field is diffed by appendViewMap.
func (d *Differ) appendStructView(dst []byte, b, c protoreflect.Message, bp, cp unsafe.Pointer, gs *goStruct, depth int, vw *viewDiff) ([]byte, error) {
	if depth > MaxDepth {
		return dst, ErrTooDeep
	}
	if vw == nil && gs != nil && bp != nil && cp != nil && gs.flatEqual(bp, cp) {
		return append(dst, 0), nil // unchanged: the empty mask
	}
	var fields protoreflect.FieldDescriptors
	var order []int
	var n int
	if gs != nil {
		n = len(gs.fields)
	} else {
		fields = c.Descriptor().Fields()
		n = fields.Len()
		var obuf [32]int
		order = sortedOrder(fields, obuf[:])
	}
	ml := maskLen(n)
	mstart := len(dst)
	for i := 0; i < ml; i++ {
		dst = append(dst, 0)
	}
	var err error
	for i := 0; i < n; i++ {
		var op int
		if gs == nil {
			dst, op, err = d.appendField(dst, b, c, fieldAt(fields, order, i), depth)
		} else if vw != nil && i == vw.field {
			dst, op, err = d.appendViewMap(dst, bp, cp, &gs.fields[i], vw, depth)
		} else if f := &gs.fields[i]; f.cat != catOneof && f.cat != catList {
			dst, op, err = d.appendGoField(dst, bp, cp, f, depth)
		} else {
			if b == nil {
				b, c = gs.msg(bp), gs.msg(cp)
			}
			dst, op, err = d.appendField(dst, b, c, f.fd, depth)
		}
		if err != nil {
			return dst, err
		}
		if op != opKeep {
			bit := 2 * i
			dst[mstart+bit/7] |= byte(op&1) << (bit % 7)
			bit++
			dst[mstart+bit/7] |= byte(op>>1) << (bit % 7)
		}
	}
	// Drop trailing zero groups, set continuation bits, close the gap.
	last := 0
	for i := ml - 1; i > 0; i-- {
		if dst[mstart+i] != 0 {
			last = i
			break
		}
	}
	for i := 0; i < last; i++ {
		dst[mstart+i] |= 0x80
	}
	if gap := ml - (last + 1); gap > 0 {
		copy(dst[mstart+last+1:], dst[mstart+ml:])
		dst = dst[:len(dst)-gap]
	}
	return dst, nil
}

// appendGoField is appendField for field f of the generated structs at bp
// (base) and cp (current); not for lists and oneof members, which take
// appendField.
func (d *Differ) appendGoField(dst []byte, bp, cp unsafe.Pointer, f *goField, depth int) ([]byte, int, error) {
	// Most scalar fields do not change between ticks: compare the Go
	// values first (bit-exact, as scalarEqual; both unset is equal too).
	switch f.cat {
	case catScalar:
		if rawEqual(f.kind, unsafe.Add(bp, f.off), unsafe.Add(cp, f.off)) {
			return dst, opKeep, nil
		}
	case catPtrScalar:
		bq, cq := f.ptrAt(bp), f.ptrAt(cp)
		if bq == cq || (bq != nil && cq != nil && rawEqual(f.kind, bq, cq)) {
			return dst, opKeep, nil
		}
	}
	bHas, cHas := f.hasRaw(bp), f.hasRaw(cp)
	if !cHas {
		if bHas {
			return dst, opClear, nil
		}
		return dst, opKeep, nil
	}
	fd := f.fd
	switch f.cat {
	case catMap:
		if f.pmap != pmNone {
			if d.cache != nil && bHas {
				return d.cachedMap(dst, bp, cp, f, depth)
			}
			lv := d.level(depth)
			lv.ents, lv.buf = lv.ents[:0], lv.buf[:0]
			common, err := d.ptrMapEntries(lv, unsafe.Add(bp, f.off), unsafe.Add(cp, f.off), bHas, f, depth)
			if err != nil {
				return dst, 0, err
			}
			return d.encodeMap(dst, lv, bHas, common, fd)
		}
		return d.appendMap(dst, nil, nil, bHas, fd, depth, f.value(bp), f.value(cp), f.sub)
	case catMessage:
		sub := f.sub
		bq, cq := f.ptrAt(bp), f.ptrAt(cp)
		if bHas {
			start := len(dst)
			var out []byte
			var err error
			if sub.ok {
				out, err = d.appendStruct(dst, nil, nil, bq, cq, sub, depth+1)
			} else {
				out, err = d.appendMessage(dst, msgOf(f.value(bp)), msgOf(f.value(cp)), depth+1)
			}
			if err != nil {
				return out, 0, err
			}
			if len(out) == start+1 && out[start] == 0 {
				return out[:start], opKeep, nil
			}
			return out, opPatch, nil
		}
		out, err := appendValue(dst, fd, protoreflect.ValueOfMessage(msgOf(f.value(cp))))
		return out, opSet, err
	}
	cv := f.scalarRaw(cp)
	if bHas {
		bv := f.scalarRaw(bp)
		if scalarEqual(f.kind, bv, cv) {
			return dst, opKeep, nil
		}
		if zz, ok := intDelta(f.kind, bv, cv); ok {
			return protowire.AppendVarint(dst, zz), opPatch, nil
		}
	}
	out, err := appendValue(dst, fd, cv)
	return out, opSet, err
}

// appendField writes fd's payload (if any) and returns its op code.
func (d *Differ) appendField(dst []byte, b, c protoreflect.Message, fd protoreflect.FieldDescriptor, depth int) ([]byte, int, error) {
	bHas, cHas := b.Has(fd), c.Has(fd)
	if !cHas {
		if bHas {
			return dst, opClear, nil
		}
		return dst, opKeep, nil
	}
	switch {
	case fd.IsList():
		return d.appendList(dst, bHas, b.Get(fd), c.Get(fd), fd)
	case fd.IsMap():
		return d.appendMap(dst, b, c, bHas, fd, depth, reflect.Value{}, reflect.Value{}, nil)
	case fd.Message() != nil:
		cv := c.Get(fd)
		if bHas {
			start := len(dst)
			out, err := d.appendMessage(dst, b.Get(fd).Message(), cv.Message(), depth+1)
			if err != nil {
				return out, 0, err
			}
			if len(out) == start+1 && out[start] == 0 {
				return out[:start], opKeep, nil
			}
			return out, opPatch, nil
		}
		out, err := appendValue(dst, fd, cv)
		return out, opSet, err
	}
	cv := c.Get(fd)
	if bHas {
		bv := b.Get(fd)
		if scalarEqual(fd.Kind(), bv, cv) {
			return dst, opKeep, nil
		}
		if zz, ok := intDelta(fd.Kind(), bv, cv); ok {
			return protowire.AppendVarint(dst, zz), opPatch, nil
		}
	}
	out, err := appendValue(dst, fd, cv)
	return out, opSet, err
}

// appendList writes a repeated field: SET with every element, or KEEP when
// the base has the same elements.
func (d *Differ) appendList(dst []byte, bHas bool, bv, cv protoreflect.Value, fd protoreflect.FieldDescriptor) ([]byte, int, error) {
	cl := cv.List()
	if bHas && listEqual(fd, bv.List(), cl) {
		return dst, opKeep, nil
	}
	dst = protowire.AppendVarint(dst, uint64(cl.Len()))
	for i := 0; i < cl.Len(); i++ {
		var err error
		if dst, err = appendValue(dst, fd, cl.Get(i)); err != nil {
			return dst, 0, err
		}
	}
	return dst, opSet, nil
}

// intDelta returns zigzag(cur-base) and true when fd's kind is an integer
// kind and the delta encodes in fewer bytes than cur's value.
func intDelta(k protoreflect.Kind, bv, cv protoreflect.Value) (uint64, bool) {
	var zz uint64
	var vsize int
	switch k {
	case protoreflect.Int32Kind:
		zz = protowire.EncodeZigZag(int64(int32(cv.Int()) - int32(bv.Int())))
		vsize = protowire.SizeVarint(uint64(cv.Int()))
	case protoreflect.Sint32Kind:
		zz = protowire.EncodeZigZag(int64(int32(cv.Int()) - int32(bv.Int())))
		vsize = protowire.SizeVarint(protowire.EncodeZigZag(cv.Int()))
	case protoreflect.Sfixed32Kind:
		zz = protowire.EncodeZigZag(int64(int32(cv.Int()) - int32(bv.Int())))
		vsize = 4
	case protoreflect.Uint32Kind:
		zz = protowire.EncodeZigZag(int64(int32(uint32(cv.Uint()) - uint32(bv.Uint()))))
		vsize = protowire.SizeVarint(cv.Uint())
	case protoreflect.Fixed32Kind:
		zz = protowire.EncodeZigZag(int64(int32(uint32(cv.Uint()) - uint32(bv.Uint()))))
		vsize = 4
	case protoreflect.Int64Kind:
		zz = protowire.EncodeZigZag(cv.Int() - bv.Int())
		vsize = protowire.SizeVarint(uint64(cv.Int()))
	case protoreflect.Sint64Kind:
		zz = protowire.EncodeZigZag(cv.Int() - bv.Int())
		vsize = protowire.SizeVarint(protowire.EncodeZigZag(cv.Int()))
	case protoreflect.Sfixed64Kind:
		zz = protowire.EncodeZigZag(cv.Int() - bv.Int())
		vsize = 8
	case protoreflect.Uint64Kind:
		zz = protowire.EncodeZigZag(int64(cv.Uint() - bv.Uint()))
		vsize = protowire.SizeVarint(cv.Uint())
	case protoreflect.Fixed64Kind:
		zz = protowire.EncodeZigZag(int64(cv.Uint() - bv.Uint()))
		vsize = 8
	default:
		return 0, false
	}
	return zz, protowire.SizeVarint(zz) < vsize
}

func isIntKind(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}

func scalarEqual(k protoreflect.Kind, a, b protoreflect.Value) bool {
	switch k {
	case protoreflect.BoolKind:
		return a.Bool() == b.Bool()
	case protoreflect.EnumKind:
		return a.Enum() == b.Enum()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return a.Int() == b.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return a.Uint() == b.Uint()
	case protoreflect.FloatKind:
		return math.Float32bits(float32(a.Float())) == math.Float32bits(float32(b.Float()))
	case protoreflect.DoubleKind:
		return math.Float64bits(a.Float()) == math.Float64bits(b.Float())
	case protoreflect.StringKind:
		return a.String() == b.String()
	case protoreflect.BytesKind:
		return string(a.Bytes()) == string(b.Bytes())
	}
	return false
}

func listEqual(fd protoreflect.FieldDescriptor, a, b protoreflect.List) bool {
	if a.Len() != b.Len() {
		return false
	}
	isMsg := fd.Message() != nil
	for i := 0; i < a.Len(); i++ {
		if isMsg {
			if !proto.Equal(a.Get(i).Message().Interface(), b.Get(i).Message().Interface()) {
				return false
			}
		} else if !scalarEqual(fd.Kind(), a.Get(i), b.Get(i)) {
			return false
		}
	}
	return true
}

// appendValue writes value(kind) for fd's (element) kind.
func appendValue(dst []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if v.Bool() {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case protoreflect.EnumKind:
		return protowire.AppendVarint(dst, uint64(int64(v.Enum()))), nil
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		return protowire.AppendVarint(dst, uint64(v.Int())), nil
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		return protowire.AppendVarint(dst, v.Uint()), nil
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return protowire.AppendVarint(dst, protowire.EncodeZigZag(v.Int())), nil
	case protoreflect.Fixed32Kind:
		return protowire.AppendFixed32(dst, uint32(v.Uint())), nil
	case protoreflect.Sfixed32Kind:
		return protowire.AppendFixed32(dst, uint32(int32(v.Int()))), nil
	case protoreflect.FloatKind:
		return protowire.AppendFixed32(dst, math.Float32bits(float32(v.Float()))), nil
	case protoreflect.Fixed64Kind:
		return protowire.AppendFixed64(dst, v.Uint()), nil
	case protoreflect.Sfixed64Kind:
		return protowire.AppendFixed64(dst, uint64(v.Int())), nil
	case protoreflect.DoubleKind:
		return protowire.AppendFixed64(dst, math.Float64bits(v.Float())), nil
	case protoreflect.StringKind:
		return protowire.AppendString(dst, v.String()), nil
	case protoreflect.BytesKind:
		return protowire.AppendBytes(dst, v.Bytes()), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		m := v.Message().Interface()
		dst = protowire.AppendVarint(dst, uint64(marshalOpts.Size(m)))
		out, err := marshalOpts.MarshalAppend(dst, m)
		if err != nil {
			return dst, fmt.Errorf("netcode: encode %s: %w", fd.FullName(), err)
		}
		return out, nil
	}
	return dst, fmt.Errorf("netcode: field %s: unsupported kind %v: %w", fd.FullName(), fd.Kind(), ErrTypeMismatch)
}

// keyOrd maps an integer or bool map key to a uint64 whose unsigned order is
// the key's numeric order; string keys give their string.
func keyOrd(k protoreflect.Kind, key protoreflect.MapKey) (uint64, string) {
	switch k {
	case protoreflect.StringKind:
		return 0, key.String()
	case protoreflect.BoolKind:
		if key.Bool() {
			return 1, ""
		}
		return 0, ""
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind,
		protoreflect.Sint64Kind, protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return uint64(key.Int()) ^ (1 << 63), ""
	}
	return key.Uint(), ""
}

// appendKey writes value(kind) of the map key with order value ord (or
// string s), the inverse of keyOrd.
func appendKey(dst []byte, k protoreflect.Kind, ord uint64, s string) []byte {
	switch k {
	case protoreflect.StringKind:
		return protowire.AppendString(dst, s)
	case protoreflect.BoolKind:
		return append(dst, byte(ord))
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		return protowire.AppendVarint(dst, ord^(1<<63))
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return protowire.AppendVarint(dst, protowire.EncodeZigZag(int64(ord^(1<<63))))
	case protoreflect.Sfixed32Kind:
		return protowire.AppendFixed32(dst, uint32(ord^(1<<63)))
	case protoreflect.Sfixed64Kind:
		return protowire.AppendFixed64(dst, ord^(1<<63))
	case protoreflect.Fixed32Kind:
		return protowire.AppendFixed32(dst, uint32(ord))
	case protoreflect.Fixed64Kind:
		return protowire.AppendFixed64(dst, ord)
	}
	return protowire.AppendVarint(dst, ord) // uint32, uint64
}

func cmpEnt(a, b mapEnt) int {
	if a.class != b.class {
		return int(a.class) - int(b.class)
	}
	if a.ord != b.ord {
		if a.ord < b.ord {
			return -1
		}
		return 1
	}
	return strings.Compare(a.str, b.str)
}

func (d *Differ) level(depth int) *diffLevel {
	for len(d.levels) <= depth {
		d.levels = append(d.levels, new(diffLevel))
	}
	return d.levels[depth]
}

// appendMap diffs map field fd of messages b and c. It walks the current
// map once, looking each key up in the base; the base is walked (for
// removals) only when some of its keys were not found. Only changed entries
// are sorted. bg and cg are the Go maps of generated messages, or invalid.
// vgs is the layout of generated message values, if any.
func (d *Differ) appendMap(dst []byte, b, c protoreflect.Message, bHas bool, fd protoreflect.FieldDescriptor, depth int, bg, cg reflect.Value, vgs *goStruct) ([]byte, int, error) {
	kfd, vfd := fd.MapKey(), fd.MapValue()
	lv := d.level(depth)
	lv.ents, lv.buf = lv.ents[:0], lv.buf[:0]
	var common int
	var err error
	if cg.IsValid() {
		common, err = d.goMapEntries(lv, bg, cg, bHas, kfd.Kind(), vfd, okOrNil(vgs), depth)
	} else {
		common, err = d.pbMapEntries(lv, b, c, bHas, fd, depth)
	}
	if err != nil {
		return dst, 0, err
	}
	return d.encodeMap(dst, lv, bHas, common, fd)
}

// encodeMap writes the map field fd from the changed entries collected in
// lv (common: how many current keys were in the base).
func (d *Differ) encodeMap(dst []byte, lv *diffLevel, bHas bool, common int, fd protoreflect.FieldDescriptor) ([]byte, int, error) {
	kfd, vfd := fd.MapKey(), fd.MapValue()
	var err error
	ents := lv.ents
	if len(ents) == 0 {
		return dst, opKeep, nil
	}
	slices.SortFunc(ents, cmpEnt)
	kk := kfd.Kind()
	if !bHas || common == 0 {
		// Whole replacement: SET with every current entry (all are entSet,
		// after the removed ones).
		i := 0
		for i < len(ents) && ents[i].class == entRemoved {
			i++
		}
		dst = protowire.AppendVarint(dst, uint64(len(ents)-i))
		for _, e := range ents[i:] {
			dst = appendKey(dst, kk, e.ord, e.str)
			if dst, err = appendValue(dst, vfd, e.v); err != nil {
				return dst, 0, err
			}
		}
		return dst, opSet, nil
	}
	i := 0
	for class := uint8(entRemoved); class <= entPatched; class++ {
		j := i
		for j < len(ents) && ents[j].class == class {
			j++
		}
		dst = protowire.AppendVarint(dst, uint64(j-i))
		for _, e := range ents[i:j] {
			dst = appendKey(dst, kk, e.ord, e.str)
			switch class {
			case entSet:
				if dst, err = appendValue(dst, vfd, e.v); err != nil {
					return dst, 0, err
				}
			case entPatched:
				dst = append(dst, lv.buf[e.start:e.end]...)
			}
		}
		i = j
	}
	return dst, opPatch, nil
}

// entry classifies one current map entry against its base value (found
// false when the key is not in the base) and records it if it changed.
func (d *Differ) entry(lv *diffLevel, vfd protoreflect.FieldDescriptor, ord uint64, str string, bv, cv protoreflect.Value, found bool, depth int) error {
	if !found {
		lv.ents = append(lv.ents, mapEnt{class: entSet, ord: ord, str: str, v: cv})
		return nil
	}
	if vfd.Message() != nil {
		return d.patchEntry(lv, ord, str, bv.Message(), cv.Message(), nil, nil, nil, depth)
	}
	k := vfd.Kind()
	if scalarEqual(k, bv, cv) {
		return nil
	}
	if zz, ok := intDelta(k, bv, cv); ok {
		start := len(lv.buf)
		lv.buf = protowire.AppendVarint(lv.buf, zz)
		lv.ents = append(lv.ents, mapEnt{class: entPatched, ord: ord, str: str, start: int32(start), end: int32(len(lv.buf))})
		return nil
	}
	lv.ents = append(lv.ents, mapEnt{class: entSet, ord: ord, str: str, v: cv})
	return nil
}

// patchEntry diffs a message value present in base and current map; with
// gs not nil, through the structs at bp and cp (b and c may be nil).
func (d *Differ) patchEntry(lv *diffLevel, ord uint64, str string, b, c protoreflect.Message, bp, cp unsafe.Pointer, gs *goStruct, depth int) error {
	// The nested diff runs one level deeper, with its own scratch; this
	// level's buf is only appended to here.
	start := len(lv.buf)
	var out []byte
	var err error
	if gs != nil {
		out, err = d.appendStruct(lv.buf, b, c, bp, cp, gs, depth+1)
	} else {
		out, err = d.appendMessage(lv.buf, b, c, depth+1)
	}
	lv.buf = out
	if err != nil {
		return err
	}
	if len(out) == start+1 && out[start] == 0 {
		lv.buf = out[:start]
	} else {
		lv.ents = append(lv.ents, mapEnt{class: entPatched, ord: ord, str: str, start: int32(start), end: int32(len(out))})
	}
	return nil
}

// goMapEntries is the map walk over Go maps of generated structs; it
// allocates nothing per entry for message-valued maps. gs is the layout of
// message values, nil if not a generated struct.
func (d *Differ) goMapEntries(lv *diffLevel, bg, cg reflect.Value, bHas bool, kk protoreflect.Kind, vfd protoreflect.FieldDescriptor, gs *goStruct, depth int) (int, error) {
	common := 0
	isMsg := vfd.Message() != nil
	key := lv.keyOf(cg.Type().Key())
	var val reflect.Value
	if !isMsg {
		val = lv.valOf(cg.Type().Elem())
	}
	it := &lv.iter
	it.Reset(cg)
	for it.Next() {
		key.SetIterKey(it)
		ord, str := goKeyOrd(kk, key)
		var brv reflect.Value
		if bHas {
			brv = bg.MapIndex(key)
		}
		found := brv.IsValid()
		if found {
			common++
		}
		var err error
		switch {
		case isMsg:
			crv := it.Value()
			switch {
			case !found:
				lv.ents = append(lv.ents, mapEnt{class: entSet, ord: ord, str: str, v: protoreflect.ValueOfMessage(msgOf(crv))})
			case gs != nil && !crv.IsNil() && !brv.IsNil():
				err = d.patchEntry(lv, ord, str, nil, nil, brv.UnsafePointer(), crv.UnsafePointer(), gs, depth)
			default:
				err = d.patchEntry(lv, ord, str, msgOf(brv), msgOf(crv), nil, nil, nil, depth)
			}
		default:
			val.SetIterValue(it)
			var bv protoreflect.Value
			if found {
				bv = pbScalar(vfd, brv)
			}
			err = d.entry(lv, vfd, ord, str, bv, pbScalar(vfd, val), found, depth)
		}
		if err != nil {
			it.Reset(reflect.Value{})
			return 0, err
		}
	}
	if bHas && common < bg.Len() {
		it.Reset(bg)
		for it.Next() {
			key.SetIterKey(it)
			if !cg.MapIndex(key).IsValid() {
				ord, str := goKeyOrd(kk, key)
				lv.ents = append(lv.ents, mapEnt{class: entRemoved, ord: ord, str: str})
			}
		}
	}
	it.Reset(reflect.Value{}) // drop the map reference
	return common, nil
}

// pbMapEntries is the map walk through protoreflect, for any message.
func (d *Differ) pbMapEntries(lv *diffLevel, b, c protoreflect.Message, bHas bool, fd protoreflect.FieldDescriptor, depth int) (int, error) {
	kk, vfd := fd.MapKey().Kind(), fd.MapValue()
	cm := c.Get(fd).Map()
	var bm protoreflect.Map
	if bHas {
		bm = b.Get(fd).Map()
	}
	common := 0
	var err error
	cm.Range(func(k protoreflect.MapKey, cv protoreflect.Value) bool {
		ord, str := keyOrd(kk, k)
		var bv protoreflect.Value
		if bHas {
			bv = bm.Get(k)
		}
		found := bv.IsValid()
		if found {
			common++
		}
		err = d.entry(lv, vfd, ord, str, bv, cv, found, depth)
		return err == nil
	})
	if err != nil {
		return 0, err
	}
	if bHas && common < bm.Len() {
		bm.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			if !cm.Has(k) {
				ord, str := keyOrd(kk, k)
				lv.ents = append(lv.ents, mapEnt{class: entRemoved, ord: ord, str: str})
			}
			return true
		})
	}
	return common, nil
}

// ptrMapEntries is goMapEntries for a map of message values with a plain
// integer or string key type (goField.pmap): native Go map iteration and
// lookups, with the map accessed as map[K]unsafe.Pointer.
func (d *Differ) ptrMapEntries(lv *diffLevel, bq, cq unsafe.Pointer, bHas bool, f *goField, depth int) (int, error) {
	switch f.pmap {
	case pmUint32:
		return ptrMapDiff(d, lv, bq, cq, bHas, f, depth, func(k uint32) (uint64, string) { return uint64(k), "" })
	case pmUint64:
		return ptrMapDiff(d, lv, bq, cq, bHas, f, depth, func(k uint64) (uint64, string) { return k, "" })
	case pmInt32:
		return ptrMapDiff(d, lv, bq, cq, bHas, f, depth, func(k int32) (uint64, string) { return uint64(int64(k)) ^ (1 << 63), "" })
	case pmInt64:
		return ptrMapDiff(d, lv, bq, cq, bHas, f, depth, func(k int64) (uint64, string) { return uint64(k) ^ (1 << 63), "" })
	}
	return ptrMapDiff(d, lv, bq, cq, bHas, f, depth, func(k string) (uint64, string) { return 0, k })
}

func ptrMapDiff[K comparable](d *Differ, lv *diffLevel, bq, cq unsafe.Pointer, bHas bool, f *goField, depth int, ordOf func(K) (uint64, string)) (int, error) {
	cm := *(*map[K]unsafe.Pointer)(cq)
	var bm map[K]unsafe.Pointer
	if bHas {
		bm = *(*map[K]unsafe.Pointer)(bq)
	}
	gs := okOrNil(f.sub)
	et := f.typ.Elem()
	common := 0
	for k, cv := range cm {
		ord, str := ordOf(k)
		bv, found := bm[k]
		if !found {
			lv.ents = append(lv.ents, mapEnt{class: entSet, ord: ord, str: str, v: protoreflect.ValueOfMessage(msgAt(et, cv))})
			continue
		}
		common++
		var err error
		if gs != nil && bv != nil && cv != nil {
			err = d.patchEntry(lv, ord, str, nil, nil, bv, cv, gs, depth)
		} else {
			err = d.patchEntry(lv, ord, str, msgAt(et, bv), msgAt(et, cv), nil, nil, nil, depth)
		}
		if err != nil {
			return 0, err
		}
	}
	if bHas && common < len(bm) {
		for k := range bm {
			if _, ok := cm[k]; !ok {
				ord, str := ordOf(k)
				lv.ents = append(lv.ents, mapEnt{class: entRemoved, ord: ord, str: str})
			}
		}
	}
	return common, nil
}

// cachedMap is the catMap case of appendGoField through d.cache.
func (d *Differ) cachedMap(dst []byte, bp, cp unsafe.Pointer, f *goField, depth int) ([]byte, int, error) {
	key := [2]unsafe.Pointer{*(*unsafe.Pointer)(unsafe.Add(bp, f.off)), *(*unsafe.Pointer)(unsafe.Add(cp, f.off))}
	if key[0] == key[1] {
		return dst, opKeep, nil // one map: unchanged
	}
	c := d.cache
	if p, ok := c.m[key]; ok {
		return append(dst, c.buf[p.lo:p.hi]...), p.op, nil
	}
	lv := d.level(depth)
	lv.ents, lv.buf = lv.ents[:0], lv.buf[:0]
	common, err := d.ptrMapEntries(lv, unsafe.Add(bp, f.off), unsafe.Add(cp, f.off), true, f, depth)
	if err != nil {
		return dst, 0, err
	}
	start := len(dst)
	dst, op, err := d.encodeMap(dst, lv, true, common, f.fd)
	if err != nil {
		return dst, op, err
	}
	if c.m == nil {
		c.m = map[[2]unsafe.Pointer]cachedPatch{}
	}
	lo := len(c.buf)
	c.buf = append(c.buf, dst[start:]...)
	c.m[key] = cachedPatch{lo: lo, hi: len(c.buf), op: op}
	return dst, op, nil
}
