package netcode

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

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

// differPool recycles Differ scratch space for the package-level Diff and
// AppendDiff. It holds no observable state.
var differPool = sync.Pool{New: func() any { return new(Differ) }}

// Diff returns the patch that turns base into cur (proto/DELTA.md). base and
// cur must be of the same message type; a nil-pointer base (e.g.
// (*T)(nil)) is treated as the empty message. The output is deterministic:
// the same pair always gives the same bytes.
func Diff(base, cur proto.Message) ([]byte, error) {
	return AppendDiff(nil, base, cur)
}

// AppendDiff appends the patch that turns base into cur to dst and returns the
// extended buffer. It is the allocation-free form of Diff once dst has grown
// to size. On error dst is returned truncated to its original length.
func AppendDiff(dst []byte, base, cur proto.Message) ([]byte, error) {
	d := differPool.Get().(*Differ)
	out, err := d.AppendDiff(dst, base, cur)
	differPool.Put(d)
	return out, err
}

// Differ computes patches, reusing its scratch space across calls. The zero
// value is ready to use. A Differ is not safe for concurrent use; keep one
// per goroutine (the Replicator owns one).
type Differ struct {
	levels []diffLevel
}

type diffLevel struct {
	bkv, ckv []mapKV
	ents     []mapEnt
	buf      []byte
}

type mapKV struct {
	ord uint64 // integer keys, order-preserving; 0 for strings
	s   string // string keys
	k   protoreflect.MapKey
	v   protoreflect.Value
}

const (
	entRemoved = iota
	entSet
	entPatched
)

type mapEnt struct {
	class      uint8
	k          protoreflect.MapKey
	v          protoreflect.Value // for set
	start, end int                // patch bytes in level buf, for patched
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
	if depth > MaxDepth {
		return dst, ErrTooDeep
	}
	fields := c.Descriptor().Fields()
	n := fields.Len()
	var obuf [32]int
	order := sortedOrder(fields, obuf[:])
	ml := maskLen(n)
	mstart := len(dst)
	for i := 0; i < ml; i++ {
		dst = append(dst, 0)
	}
	var err error
	for i := 0; i < n; i++ {
		fd := fieldAt(fields, order, i)
		var op int
		dst, op, err = d.appendField(dst, b, c, fd, depth)
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
		bl, cl := b.Get(fd).List(), c.Get(fd).List()
		if bHas && listEqual(fd, bl, cl) {
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
	case fd.IsMap():
		return d.appendMap(dst, b.Get(fd).Map(), c.Get(fd).Map(), bHas, fd, depth)
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
// the key's numeric order.
func keyOrd(k protoreflect.Kind, key protoreflect.MapKey) uint64 {
	switch k {
	case protoreflect.BoolKind:
		if key.Bool() {
			return 1
		}
		return 0
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind,
		protoreflect.Sint64Kind, protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return uint64(key.Int()) ^ (1 << 63)
	case protoreflect.StringKind:
		return 0
	}
	return key.Uint()
}

func cmpKV(a, b mapKV) int {
	if a.ord != b.ord {
		if a.ord < b.ord {
			return -1
		}
		return 1
	}
	return strings.Compare(a.s, b.s)
}

func (d *Differ) level(depth int) *diffLevel {
	for len(d.levels) <= depth {
		d.levels = append(d.levels, diffLevel{})
	}
	return &d.levels[depth]
}

func collectSorted(dst []mapKV, m protoreflect.Map, kk protoreflect.Kind) []mapKV {
	dst = dst[:0]
	isStr := kk == protoreflect.StringKind
	m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		e := mapKV{k: k, v: v}
		if isStr {
			e.s = k.String()
		} else {
			e.ord = keyOrd(kk, k)
		}
		dst = append(dst, e)
		return true
	})
	slices.SortFunc(dst, cmpKV)
	return dst
}

func (d *Differ) appendMap(dst []byte, bm, cm protoreflect.Map, bHas bool, fd protoreflect.FieldDescriptor, depth int) ([]byte, int, error) {
	kfd, vfd := fd.MapKey(), fd.MapValue()
	lv := d.level(depth)
	ckv := collectSorted(lv.ckv, cm, kfd.Kind())
	lv.ckv = ckv
	var bkv []mapKV
	if bHas {
		bkv = collectSorted(lv.bkv, bm, kfd.Kind())
		lv.bkv = bkv
	}
	ents := lv.ents[:0]
	buf := lv.buf[:0]
	common := 0
	isMsg := vfd.Message() != nil
	i, j := 0, 0
	for i < len(bkv) || j < len(ckv) {
		var c int
		switch {
		case i == len(bkv):
			c = 1
		case j == len(ckv):
			c = -1
		default:
			c = cmpKV(bkv[i], ckv[j])
		}
		switch {
		case c < 0:
			ents = append(ents, mapEnt{class: entRemoved, k: bkv[i].k})
			i++
		case c > 0:
			ents = append(ents, mapEnt{class: entSet, k: ckv[j].k, v: ckv[j].v})
			j++
		default:
			common++
			bv, cv := bkv[i].v, ckv[j].v
			switch {
			case isMsg:
				// The nested diff runs one level deeper, so it uses its own
				// scratch; this level's buf is only appended to here.
				start := len(buf)
				out, err := d.appendMessage(buf, bv.Message(), cv.Message(), depth+1)
				lv = d.level(depth) // levels may have grown
				if err != nil {
					lv.ents, lv.buf = ents, out
					return dst, 0, err
				}
				buf = out
				if len(buf) == start+1 && buf[start] == 0 {
					buf = buf[:start]
				} else {
					ents = append(ents, mapEnt{class: entPatched, k: ckv[j].k, start: start, end: len(buf)})
				}
			case scalarEqual(vfd.Kind(), bv, cv):
			default:
				if zz, ok := intDelta(vfd.Kind(), bv, cv); ok {
					start := len(buf)
					buf = protowire.AppendVarint(buf, zz)
					ents = append(ents, mapEnt{class: entPatched, k: ckv[j].k, start: start, end: len(buf)})
				} else {
					ents = append(ents, mapEnt{class: entSet, k: ckv[j].k, v: cv})
				}
			}
			i++
			j++
		}
	}
	lv.ents, lv.buf = ents, buf
	if len(ents) == 0 {
		return dst, opKeep, nil
	}
	var err error
	if !bHas || common == 0 {
		// Whole replacement: SET with every current entry.
		dst = protowire.AppendVarint(dst, uint64(len(ckv)))
		for _, e := range ckv {
			if dst, err = appendValue(dst, kfd, e.k.Value()); err != nil {
				return dst, 0, err
			}
			if dst, err = appendValue(dst, vfd, e.v); err != nil {
				return dst, 0, err
			}
		}
		return dst, opSet, nil
	}
	for class := uint8(entRemoved); class <= entPatched; class++ {
		cnt := 0
		for _, e := range ents {
			if e.class == class {
				cnt++
			}
		}
		dst = protowire.AppendVarint(dst, uint64(cnt))
		for _, e := range ents {
			if e.class != class {
				continue
			}
			if dst, err = appendValue(dst, kfd, e.k.Value()); err != nil {
				return dst, 0, err
			}
			switch class {
			case entSet:
				if dst, err = appendValue(dst, vfd, e.v); err != nil {
					return dst, 0, err
				}
			case entPatched:
				dst = append(dst, buf[e.start:e.end]...)
			}
		}
	}
	return dst, opPatch, nil
}
