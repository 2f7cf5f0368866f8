package netcode

import (
	"fmt"
	"math"
	"reflect"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Apply applies patch (proto/DELTA.md) to state in place. state must hold the
// patch's baseline. Every malformed patch returns an error wrapping
// ErrMalformedPatch (or ErrTooDeep); Apply never panics on bad input.
//
// On error state is left partly patched and must be discarded: apply to a
// clone when the baseline must survive a bad patch (ClientStates does).
//
// Decisions where proto/DELTA.md is silent: Apply does not check that map keys
// come in ascending order; removing an absent map key is a no-op; a later op
// for another member of the same oneof wins; for 32-bit integer fields only
// the low 32 bits of a PATCH delta count (wrapping arithmetic); strings of
// proto3 fields must be valid UTF-8, as protobuf requires.
//
// Apply goes through protoreflect only, which is cheapest for a one-off
// patch; an Applier is faster for repeated patches of generated messages.
func Apply(state proto.Message, patch []byte) error {
	return applyWith(nil, state, patch)
}

// Applier applies patches like Apply, caching the Go struct layout of
// generated message types so that it writes scalar fields of generated
// messages directly (no protoreflect boxing); other messages go through
// protoreflect. The zero value is ready to use. An Applier is not safe for
// concurrent use; keep one per goroutine (ClientStates owns one).
type Applier struct {
	types goTypes
	lv    []*scratch // map cells by depth
}

// Apply is like the package-level Apply, with the same results and errors.
func (a *Applier) Apply(state proto.Message, patch []byte) error {
	return applyWith(a, state, patch)
}

func (a *Applier) scratch(depth int) *scratch {
	for len(a.lv) <= depth {
		a.lv = append(a.lv, new(scratch))
	}
	return a.lv[depth]
}

// applyWith applies patch with a's fast paths, or through protoreflect only
// when a is nil (the reference the fuzz tests compare against).
func applyWith(a *Applier, state proto.Message, patch []byte) error {
	if state == nil {
		return fmt.Errorf("nil state: %w", ErrInvalidMessage)
	}
	m := state.ProtoReflect()
	if !m.IsValid() {
		return fmt.Errorf("nil %s: %w", m.Descriptor().FullName(), ErrInvalidMessage)
	}
	r := reader{b: patch, a: a}
	if err := r.message(m, 1); err != nil {
		return err
	}
	if r.p != len(r.b) {
		return r.fail("trailing bytes")
	}
	return nil
}

type reader struct {
	b []byte
	p int
	a *Applier // nil: protoreflect only
}

func (r *reader) fail(what string) error {
	return fmt.Errorf("%s at byte %d: %w", what, r.p, ErrMalformedPatch)
}

func (r *reader) varint() (uint64, error) {
	v, n := protowire.ConsumeVarint(r.b[r.p:])
	if n < 0 {
		return 0, r.fail("bad varint")
	}
	r.p += n
	return v, nil
}

// count reads an element count and checks it against the bytes left (every
// element takes at least one byte), so untrusted counts cannot make Apply
// loop or allocate beyond the patch size.
func (r *reader) count() (int, error) {
	v, err := r.varint()
	if err != nil {
		return 0, err
	}
	if v > uint64(len(r.b)-r.p) {
		return 0, r.fail("count exceeds patch size")
	}
	return int(v), nil
}

func (r *reader) message(m protoreflect.Message, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("depth %d: %w", depth, ErrTooDeep)
	}
	// Mask: find its end first; payloads follow it.
	mstart := r.p
	for {
		if r.p >= len(r.b) {
			return r.fail("truncated mask")
		}
		c := r.b[r.p]
		r.p++
		if c&0x80 == 0 {
			break
		}
	}
	mask := r.b[mstart:r.p]
	fields := m.Descriptor().Fields()
	n := fields.Len()
	// Bits past 2n must be zero.
	for bit := 2 * n; bit < 7*len(mask); bit++ {
		if mask[bit/7]&(1<<(bit%7)) != 0 {
			return r.fail("op for a field past the message's fields")
		}
	}
	var gs *goStruct
	var sp unsafe.Pointer
	if r.a != nil {
		if p, g, ok := r.a.types.lookup(m); ok {
			gs, sp = g, p
		}
	}
	var order []int
	if gs == nil {
		var obuf [32]int
		order = sortedOrder(fields, obuf[:])
	}
	for i := 0; i < n; i++ {
		op := maskBit(mask, 2*i) | maskBit(mask, 2*i+1)<<1
		if op == opKeep {
			continue
		}
		var err error
		if gs == nil {
			err = r.field(m, fieldAt(fields, order, i), op, depth)
		} else if f := &gs.fields[i]; f.cat == catScalar || f.cat == catPtrScalar {
			err = r.goScalar(sp, f, op, depth)
		} else if f.cat == catMap && op == opPatch && f.hasRaw(sp) {
			err = r.goMapPatch(m.Mutable(f.fd).Map(), f.value(sp), f, depth)
		} else {
			err = r.field(m, f.fd, op, depth)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// goScalar is field for a scalar field f (catScalar, catPtrScalar) of the
// generated struct at sp: it reads and writes the field in place.
func (r *reader) goScalar(sp unsafe.Pointer, f *goField, op int, depth int) error {
	q := unsafe.Add(sp, f.off)
	switch op {
	case opClear:
		if f.cat == catPtrScalar {
			*(*unsafe.Pointer)(q) = nil
		} else {
			writeScalar(f.kind, q, protoreflect.Value{})
		}
		return nil
	case opSet:
		v, err := r.value(f.fd, nil, depth)
		if err != nil {
			return err
		}
		if f.cat == catPtrScalar {
			pq := (*unsafe.Pointer)(q)
			if *pq == nil {
				*pq = reflect.New(f.typ.Elem()).UnsafePointer()
			}
			q = *pq
		}
		writeScalar(f.kind, q, v)
		return nil
	}
	// PATCH
	if !f.hasRaw(sp) {
		return r.fail(fmt.Sprintf("PATCH on field %s missing from the baseline", f.fd.Name()))
	}
	if f.cat == catPtrScalar {
		q = *(*unsafe.Pointer)(q)
	}
	v, err := r.intPatch(f.kind, rawScalar(f.kind, q))
	if err != nil {
		return err
	}
	writeScalar(f.kind, q, v)
	return nil
}

// goMapPatch is mapPatch for the Go map gm (also seen as mp) of a generated
// struct: patched entries, the common case, are looked up and written with
// reflect, without boxing keys; removed and set entries go through mp.
func (r *reader) goMapPatch(mp protoreflect.Map, gm reflect.Value, f *goField, depth int) error {
	fd := f.fd
	if err := r.mapRemoveSet(mp, fd, depth); err != nil {
		return err
	}
	cnt, err := r.count()
	if err != nil {
		return err
	}
	kfd, vfd := fd.MapKey(), fd.MapValue()
	isMsg := vfd.Message() != nil
	if cnt > 0 && !isMsg && !isIntKind(vfd.Kind()) {
		return r.fail(fmt.Sprintf("PATCH on %v map value", vfd.Kind()))
	}
	sc := r.a.scratch(depth)
	key := sc.keyOf(gm.Type().Key())
	var val reflect.Value
	if !isMsg {
		val = sc.valOf(gm.Type().Elem())
	}
	for i := 0; i < cnt; i++ {
		kv, err := r.value(kfd, nil, depth)
		if err != nil {
			return err
		}
		setCell(key, kv)
		v := gm.MapIndex(key)
		if !v.IsValid() {
			return r.fail("PATCH on map entry missing from the baseline")
		}
		if isMsg {
			if v.IsNil() {
				v = reflect.New(v.Type().Elem())
				gm.SetMapIndex(key, v)
			}
			if err := r.message(msgOf(v), depth+1); err != nil {
				return err
			}
			continue
		}
		nv, err := r.intPatch(vfd.Kind(), pbScalar(vfd, v))
		if err != nil {
			return err
		}
		setCell(val, nv)
		gm.SetMapIndex(key, val)
	}
	return nil
}

// setCell stores a bool, integer or string protoreflect value into a Go
// scalar cell of the matching kind.
func setCell(cell reflect.Value, v protoreflect.Value) {
	switch cell.Kind() {
	case reflect.Bool:
		cell.SetBool(v.Bool())
	case reflect.Int32, reflect.Int64: // integer keys and values; never enums
		cell.SetInt(v.Int())
	case reflect.Uint32, reflect.Uint64:
		cell.SetUint(v.Uint())
	case reflect.String:
		cell.SetString(v.String())
	}
}

// writeScalar stores v (a value of kind k, or the invalid Value for the
// zero value) into the Go scalar at q.
func writeScalar(k protoreflect.Kind, q unsafe.Pointer, v protoreflect.Value) {
	zero := !v.IsValid()
	switch k {
	case protoreflect.BoolKind:
		*(*bool)(q) = !zero && v.Bool()
	case protoreflect.StringKind:
		if zero {
			*(*string)(q) = ""
		} else {
			*(*string)(q) = v.String()
		}
	case protoreflect.EnumKind:
		if zero {
			*(*int32)(q) = 0
		} else {
			*(*int32)(q) = int32(v.Enum())
		}
	case protoreflect.FloatKind:
		if zero {
			*(*float32)(q) = 0
		} else {
			*(*float32)(q) = float32(v.Float())
		}
	case protoreflect.DoubleKind:
		if zero {
			*(*float64)(q) = 0
		} else {
			*(*float64)(q) = v.Float()
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if zero {
			*(*int32)(q) = 0
		} else {
			*(*int32)(q) = int32(v.Int())
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if zero {
			*(*int64)(q) = 0
		} else {
			*(*int64)(q) = v.Int()
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if zero {
			*(*uint32)(q) = 0
		} else {
			*(*uint32)(q) = uint32(v.Uint())
		}
	default: // uint64, fixed64
		if zero {
			*(*uint64)(q) = 0
		} else {
			*(*uint64)(q) = v.Uint()
		}
	}
}

func maskBit(mask []byte, bit int) int {
	i := bit / 7
	if i >= len(mask) {
		return 0
	}
	return int(mask[i]>>(bit%7)) & 1
}

func (r *reader) field(m protoreflect.Message, fd protoreflect.FieldDescriptor, op int, depth int) error {
	switch op {
	case opClear:
		m.Clear(fd)
		return nil
	case opSet:
		switch {
		case fd.IsList():
			cnt, err := r.count()
			if err != nil {
				return err
			}
			l := m.Mutable(fd).List()
			l.Truncate(0)
			for i := 0; i < cnt; i++ {
				v, err := r.value(fd, l.NewElement, depth)
				if err != nil {
					return err
				}
				l.Append(v)
			}
			return nil
		case fd.IsMap():
			cnt, err := r.count()
			if err != nil {
				return err
			}
			m.Clear(fd)
			if cnt == 0 {
				return nil
			}
			mp := m.Mutable(fd).Map()
			kfd, vfd := fd.MapKey(), fd.MapValue()
			for i := 0; i < cnt; i++ {
				k, err := r.value(kfd, nil, depth)
				if err != nil {
					return err
				}
				v, err := r.value(vfd, mp.NewValue, depth)
				if err != nil {
					return err
				}
				mp.Set(k.MapKey(), v)
			}
			return nil
		}
		v, err := r.value(fd, func() protoreflect.Value { return m.NewField(fd) }, depth)
		if err != nil {
			return err
		}
		m.Set(fd, v)
		return nil
	}
	// PATCH
	if fd.IsList() {
		return r.fail(fmt.Sprintf("PATCH on repeated field %s", fd.Name()))
	}
	if !m.Has(fd) {
		return r.fail(fmt.Sprintf("PATCH on field %s missing from the baseline", fd.Name()))
	}
	switch {
	case fd.IsMap():
		return r.mapPatch(m.Mutable(fd).Map(), fd, depth)
	case fd.Message() != nil:
		return r.message(m.Mutable(fd).Message(), depth+1)
	}
	v, err := r.intPatch(fd.Kind(), m.Get(fd))
	if err != nil {
		return err
	}
	m.Set(fd, v)
	return nil
}

func (r *reader) intPatch(k protoreflect.Kind, base protoreflect.Value) (protoreflect.Value, error) {
	if !isIntKind(k) {
		return protoreflect.Value{}, r.fail(fmt.Sprintf("PATCH on %v field", k))
	}
	zz, err := r.varint()
	if err != nil {
		return protoreflect.Value{}, err
	}
	d := protowire.DecodeZigZag(zz)
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(base.Int()) + int32(d)), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(base.Uint()) + uint32(d)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(base.Int() + d), nil
	default:
		return protoreflect.ValueOfUint64(base.Uint() + uint64(d)), nil
	}
}

func (r *reader) mapPatch(mp protoreflect.Map, fd protoreflect.FieldDescriptor, depth int) error {
	if err := r.mapRemoveSet(mp, fd, depth); err != nil {
		return err
	}
	return r.mapPatched(mp, fd, depth)
}

// mapRemoveSet reads the removed and set groups of a map PATCH.
func (r *reader) mapRemoveSet(mp protoreflect.Map, fd protoreflect.FieldDescriptor, depth int) error {
	kfd, vfd := fd.MapKey(), fd.MapValue()
	// Removed.
	cnt, err := r.count()
	if err != nil {
		return err
	}
	for i := 0; i < cnt; i++ {
		k, err := r.value(kfd, nil, depth)
		if err != nil {
			return err
		}
		mp.Clear(k.MapKey())
	}
	// Set.
	if cnt, err = r.count(); err != nil {
		return err
	}
	for i := 0; i < cnt; i++ {
		k, err := r.value(kfd, nil, depth)
		if err != nil {
			return err
		}
		v, err := r.value(vfd, mp.NewValue, depth)
		if err != nil {
			return err
		}
		mp.Set(k.MapKey(), v)
	}
	return nil
}

// mapPatched reads the patched group of a map PATCH.
func (r *reader) mapPatched(mp protoreflect.Map, fd protoreflect.FieldDescriptor, depth int) error {
	kfd, vfd := fd.MapKey(), fd.MapValue()
	cnt, err := r.count()
	if err != nil {
		return err
	}
	isMsg := vfd.Message() != nil
	if cnt > 0 && !isMsg && !isIntKind(vfd.Kind()) {
		return r.fail(fmt.Sprintf("PATCH on %v map value", vfd.Kind()))
	}
	for i := 0; i < cnt; i++ {
		kv, err := r.value(kfd, nil, depth)
		if err != nil {
			return err
		}
		k := kv.MapKey()
		if !mp.Has(k) {
			return r.fail("PATCH on map entry missing from the baseline")
		}
		if isMsg {
			v := mp.Get(k)
			if !v.Message().IsValid() {
				v = mp.NewValue()
				mp.Set(k, v)
			}
			if err := r.message(v.Message(), depth+1); err != nil {
				return err
			}
			continue
		}
		v, err := r.intPatch(vfd.Kind(), mp.Get(k))
		if err != nil {
			return err
		}
		mp.Set(k, v)
	}
	return nil
}

// value reads value(kind) for fd. newMsg makes an empty message value for
// message kinds.
func (r *reader) value(fd protoreflect.FieldDescriptor, newMsg func() protoreflect.Value, depth int) (protoreflect.Value, error) {
	b := r.b[r.p:]
	switch fd.Kind() {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Int64Kind,
		protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		v, err := r.varint()
		if err != nil {
			return protoreflect.Value{}, err
		}
		switch fd.Kind() {
		case protoreflect.BoolKind:
			return protoreflect.ValueOfBool(v != 0), nil
		case protoreflect.EnumKind:
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(int32(v))), nil
		case protoreflect.Int32Kind:
			return protoreflect.ValueOfInt32(int32(v)), nil
		case protoreflect.Int64Kind:
			return protoreflect.ValueOfInt64(int64(v)), nil
		case protoreflect.Uint32Kind:
			return protoreflect.ValueOfUint32(uint32(v)), nil
		case protoreflect.Uint64Kind:
			return protoreflect.ValueOfUint64(v), nil
		case protoreflect.Sint32Kind:
			return protoreflect.ValueOfInt32(int32(protowire.DecodeZigZag(v & math.MaxUint32))), nil
		default:
			return protoreflect.ValueOfInt64(protowire.DecodeZigZag(v)), nil
		}
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		v, n := protowire.ConsumeFixed32(b)
		if n < 0 {
			return protoreflect.Value{}, r.fail("truncated fixed32")
		}
		r.p += n
		switch fd.Kind() {
		case protoreflect.Fixed32Kind:
			return protoreflect.ValueOfUint32(v), nil
		case protoreflect.Sfixed32Kind:
			return protoreflect.ValueOfInt32(int32(v)), nil
		default:
			return protoreflect.ValueOfFloat32(math.Float32frombits(v)), nil
		}
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		v, n := protowire.ConsumeFixed64(b)
		if n < 0 {
			return protoreflect.Value{}, r.fail("truncated fixed64")
		}
		r.p += n
		switch fd.Kind() {
		case protoreflect.Fixed64Kind:
			return protoreflect.ValueOfUint64(v), nil
		case protoreflect.Sfixed64Kind:
			return protoreflect.ValueOfInt64(int64(v)), nil
		default:
			return protoreflect.ValueOfFloat64(math.Float64frombits(v)), nil
		}
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind, protoreflect.GroupKind:
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protoreflect.Value{}, r.fail("truncated length-delimited value")
		}
		r.p += n
		switch fd.Kind() {
		case protoreflect.StringKind:
			if fd.Syntax() == protoreflect.Proto3 && !utf8.Valid(v) {
				return protoreflect.Value{}, r.fail("invalid UTF-8 in string")
			}
			return protoreflect.ValueOfString(string(v)), nil
		case protoreflect.BytesKind:
			return protoreflect.ValueOfBytes(append([]byte{}, v...)), nil
		default:
			if newMsg == nil {
				return protoreflect.Value{}, r.fail("message value where none is allowed")
			}
			mv := newMsg()
			opts := unmarshalOpts
			opts.RecursionLimit = max(MaxDepth-depth, 1)
			if err := opts.Unmarshal(v, mv.Message().Interface()); err != nil {
				return protoreflect.Value{}, fmt.Errorf("message value of %s at byte %d: %w: %w", fd.FullName(), r.p, ErrMalformedPatch, err)
			}
			return mv, nil
		}
	}
	return protoreflect.Value{}, r.fail(fmt.Sprintf("unsupported kind %v", fd.Kind()))
}
