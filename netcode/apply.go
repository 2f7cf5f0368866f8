package netcode

import (
	"fmt"
	"math"
	"unicode/utf8"

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
func Apply(state proto.Message, patch []byte) error {
	if state == nil {
		return fmt.Errorf("nil state: %w", ErrInvalidMessage)
	}
	m := state.ProtoReflect()
	if !m.IsValid() {
		return fmt.Errorf("nil %s: %w", m.Descriptor().FullName(), ErrInvalidMessage)
	}
	r := reader{b: patch}
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
	var obuf [32]int
	order := sortedOrder(fields, obuf[:])
	for i := 0; i < n; i++ {
		op := maskBit(mask, 2*i) | maskBit(mask, 2*i+1)<<1
		if op == opKeep {
			continue
		}
		if err := r.field(m, fieldAt(fields, order, i), op, depth); err != nil {
			return err
		}
	}
	return nil
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
	// Patched.
	if cnt, err = r.count(); err != nil {
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
