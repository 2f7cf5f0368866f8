package netcode

import (
	"bytes"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Fast paths over the Go structs that protoc-gen-go generates. Reflection
// through protoreflect boxes every map key it iterates (one allocation per
// entry) and every scalar it sets; the Go reflect API with reusable scratch
// values (reflect.Value.SetIterKey) does neither. Messages that are not
// generated structs (dynamicpb, legacy types, messages with extensions)
// take the protoreflect paths; both give the same results.

// goTypes caches the struct layout of generated message types. Each owner
// (Differ, Replicator, ViewFilter user) keeps its own, or reads a Layouts
// shared with other owners: there is no package-level state. Not safe for
// concurrent use (a shared Layouts is).
type goTypes struct {
	shared *Layouts // when set, m is unused
	m      map[reflect.Type]*goStruct
}

// Layouts holds how the Go structs of generated message types are laid
// out, which the fast paths of Differ, Replicator and ViewEncoder read.
// Each of them builds the layouts of the types it meets, a few kilobytes
// for a game state; owners that work on the same state type can share one
// Layouts instead (ReplicatorConfig.Layouts, ViewEncoderConfig.Layouts):
// the room runtime keeps one per room type, so a room or a player's view
// adds none.
//
// Safe for concurrent use: a lookup reads an immutable map through an
// atomic pointer, and the first use of a type builds it under a lock and
// publishes a new map. The zero value is ready to use.
type Layouts struct {
	mu sync.Mutex
	m  atomic.Pointer[map[reflect.Type]*goStruct]
}

// byType returns the layout of the message type t with descriptor md.
func (l *Layouts) byType(t reflect.Type, md protoreflect.MessageDescriptor) *goStruct {
	if m := l.m.Load(); m != nil {
		if gs := (*m)[t]; gs != nil {
			return gs
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	next := map[reflect.Type]*goStruct{}
	if m := l.m.Load(); m != nil {
		if gs := (*m)[t]; gs != nil {
			return gs
		}
		next = maps.Clone(*m)
	}
	// Build into a copy (with the types t refers to), then publish it:
	// readers never see a layout being built.
	b := goTypes{m: next}
	gs := b.byType(t, md)
	l.m.Store(&next)
	return gs
}

// len returns the number of types laid out (tests).
func (l *Layouts) len() int {
	if m := l.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// goStruct is the layout of one generated message struct.
type goStruct struct {
	ok  bool         // the fast paths apply
	ptr reflect.Type // *T
	// fields are the message's fields in patch mask order (ascending
	// field number).
	fields []goField
	// oneofs are the struct fields (interfaces) of the real oneofs.
	oneofs []int
	// unknown is the struct field holding unknown fields, -1 if none was
	// found (then they are read through protoreflect); unknownOff is its
	// offset.
	unknown    int
	unknownOff uintptr
	// flatLo and flatHi bound the bytes of the fields when every field is
	// a fixed-size scalar (no strings, pointers, slices, maps or oneofs);
	// flatHi is 0 otherwise. See flatEqual.
	flatLo, flatHi uintptr
}

// flatEqual reports whether the structs at bp and cp, of a flat layout,
// hold bit-identical field values; false when gs is not flat. Bytes
// between fields are padding, which Go zeroes and field writes never
// touch; were it ever to differ, the caller would only take its field by
// field path.
func (gs *goStruct) flatEqual(bp, cp unsafe.Pointer) bool {
	if gs.flatHi == 0 {
		return false
	}
	n := int(gs.flatHi - gs.flatLo)
	return bytes.Equal(unsafe.Slice((*byte)(unsafe.Add(bp, gs.flatLo)), n), unsafe.Slice((*byte)(unsafe.Add(cp, gs.flatLo)), n))
}

// setFlat sets flatLo and flatHi when the layout is flat.
func (gs *goStruct) setFlat() {
	if len(gs.fields) == 0 {
		return
	}
	lo, hi := ^uintptr(0), uintptr(0)
	for i := range gs.fields {
		f := &gs.fields[i]
		if f.cat != catScalar || f.kind == protoreflect.StringKind {
			return
		}
		lo, hi = min(lo, f.off), max(hi, f.off+f.typ.Size())
	}
	gs.flatLo, gs.flatHi = lo, hi
}

// Categories of goField.
const (
	catScalar    = iota // implicit presence: bool, number, string, enum
	catPtrScalar        // explicit presence: *T
	catBytes            // []byte
	catMessage          // *M
	catMap              // map[K]V
	catList             // []T
	catOneof            // a member of a real oneof: protoreflect path
)

// Map key types whose maps of message values are accessed natively, as
// map[K]unsafe.Pointer (see ptrMapKind).
const (
	pmNone = iota
	pmUint32
	pmUint64
	pmInt32
	pmInt64
	pmString
)

// ptrMapKind returns the pm* kind for a Go map type t, or pmNone.
//
// A map[K]*T is read and written as a map[K]unsafe.Pointer. The two types
// have the same key type (so the same hash function), the same element
// size and pointer layout, and so the same runtime representation; only
// plain key types protoc-gen-go uses and pointer elements qualify.
func ptrMapKind(t reflect.Type) uint8 {
	if t.Elem().Kind() != reflect.Pointer {
		return pmNone
	}
	switch t.Key() {
	case reflect.TypeFor[uint32]():
		return pmUint32
	case reflect.TypeFor[uint64]():
		return pmUint64
	case reflect.TypeFor[int32]():
		return pmInt32
	case reflect.TypeFor[int64]():
		return pmInt64
	case reflect.TypeFor[string]():
		return pmString
	}
	return pmNone
}

// msgAt returns the message at p, a *T of pointer type et (p may be nil).
func msgAt(et reflect.Type, p unsafe.Pointer) protoreflect.Message {
	return msgOf(reflect.NewAt(et.Elem(), p))
}

// goField is one field of a goStruct.
type goField struct {
	fd    protoreflect.FieldDescriptor
	kind  protoreflect.Kind
	idx   int // struct field index; -1 for catOneof
	cat   uint8
	pres  bool         // explicit presence (bytes: nil means unset)
	off   uintptr      // offset of the struct field
	typ   reflect.Type // Go type of the struct field
	owner reflect.Type // the struct type holding the field
	pmap  uint8        // catMap: key type for native access (pmNone: reflect)
	// sub is the layout of the field's message type, or of the map's
	// message values; nil when there is none or it is not ok.
	sub *goStruct
}

// lookup returns the address of the struct behind m and its layout, or
// ok == false when the fast paths do not apply to m (including a nil
// pointer message).
func (g *goTypes) lookup(m protoreflect.Message) (unsafe.Pointer, *goStruct, bool) {
	rv := reflect.ValueOf(m.Interface())
	gs := g.byType(rv.Type(), m.Descriptor())
	if !gs.ok || rv.IsNil() {
		return nil, gs, false
	}
	return rv.UnsafePointer(), gs, true
}

// byType returns the layout of the message type t with descriptor md.
func (g *goTypes) byType(t reflect.Type, md protoreflect.MessageDescriptor) *goStruct {
	if g.shared != nil {
		return g.shared.byType(t, md)
	}
	gs := g.m[t]
	if gs == nil {
		if g.m == nil {
			g.m = make(map[reflect.Type]*goStruct)
		}
		gs = &goStruct{}
		g.m[t] = gs // before building: recursive types refer to it
		gs.build(g, t, md)
	}
	return gs
}

// okOrNil returns gs if the fast paths apply to it.
func okOrNil(gs *goStruct) *goStruct {
	if gs == nil || !gs.ok {
		return nil
	}
	return gs
}

func (gs *goStruct) build(g *goTypes, t reflect.Type, md protoreflect.MessageDescriptor) {
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct || md.ExtensionRanges().Len() > 0 {
		return
	}
	st := t.Elem()
	gs.ptr = t
	byNum := make(map[protoreflect.FieldNumber]int)
	byOneof := make(map[string]int)
	gs.unknown = -1
	for i := 0; i < st.NumField(); i++ {
		sf := st.Field(i)
		if !sf.IsExported() {
			if sf.Name == "unknownFields" && sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.Uint8 {
				gs.unknown, gs.unknownOff = i, sf.Offset
			}
			continue // state, sizeCache
		}
		if tag, ok := sf.Tag.Lookup("protobuf"); ok {
			parts := strings.Split(tag, ",")
			if len(parts) < 2 {
				return
			}
			n, err := strconv.Atoi(parts[1])
			if err != nil {
				return
			}
			byNum[protoreflect.FieldNumber(n)] = i
			continue
		}
		if name, ok := sf.Tag.Lookup("protobuf_oneof"); ok && sf.Type.Kind() == reflect.Interface {
			byOneof[name] = i
			continue
		}
		return // an exported field of unknown meaning (e.g. XXX_)
	}
	fields := md.Fields()
	order := sortedOrder(fields, nil)
	gs.fields = make([]goField, fields.Len())
	for i := range gs.fields {
		fd := fieldAt(fields, order, i)
		f := &gs.fields[i]
		f.fd, f.idx = fd, -1
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			f.cat = catOneof
			continue
		}
		idx, ok := byNum[fd.Number()]
		if !ok {
			return
		}
		ft := st.Field(idx).Type
		if !goTypeFits(fd, ft) {
			return
		}
		f.idx = idx
		f.pres = fd.HasPresence()
		f.kind = fd.Kind()
		f.off = st.Field(idx).Offset
		f.typ = ft
		f.owner = st
		switch {
		case fd.IsMap():
			f.cat = catMap
			if vfd := fd.MapValue(); vfd.Message() != nil {
				f.sub = g.byType(ft.Elem(), vfd.Message())
				f.pmap = ptrMapKind(ft)
			}
		case fd.IsList():
			f.cat = catList
		case fd.Message() != nil:
			f.cat = catMessage
			f.sub = g.byType(ft, fd.Message())
		case fd.Kind() == protoreflect.BytesKind:
			f.cat = catBytes
		case ft.Kind() == reflect.Pointer:
			f.cat = catPtrScalar
		default:
			f.cat = catScalar
		}
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		od := oneofs.Get(i)
		if od.IsSynthetic() {
			continue
		}
		idx, ok := byOneof[string(od.Name())]
		if !ok {
			return
		}
		gs.oneofs = append(gs.oneofs, idx)
	}
	gs.setFlat()
	gs.ok = true
}

// goTypeFits reports whether t is the Go type protoc-gen-go uses for fd.
func goTypeFits(fd protoreflect.FieldDescriptor, t reflect.Type) bool {
	switch {
	case fd.IsMap():
		return t.Kind() == reflect.Map && goScalarFits(fd.MapKey(), t.Key()) && goElemFits(fd.MapValue(), t.Elem())
	case fd.IsList():
		return t.Kind() == reflect.Slice && goElemFits(fd, t.Elem())
	case fd.Message() == nil && fd.Kind() != protoreflect.BytesKind && t.Kind() == reflect.Pointer:
		return goScalarFits(fd, t.Elem()) // scalar with explicit presence
	}
	return goElemFits(fd, t)
}

// goElemFits checks one value of fd's kind (a singular field, list element
// or map value).
func goElemFits(fd protoreflect.FieldDescriptor, t reflect.Type) bool {
	if fd.Message() != nil {
		return t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Implements(protoMessageType)
	}
	return goScalarFits(fd, t)
}

var protoMessageType = reflect.TypeFor[proto.Message]()

func goScalarFits(fd protoreflect.FieldDescriptor, t reflect.Type) bool {
	k := t.Kind()
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return k == reflect.Bool
	case protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return k == reflect.Int32
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return k == reflect.Int64
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return k == reflect.Uint32
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return k == reflect.Uint64
	case protoreflect.FloatKind:
		return k == reflect.Float32
	case protoreflect.DoubleKind:
		return k == reflect.Float64
	case protoreflect.StringKind:
		return k == reflect.String
	case protoreflect.BytesKind:
		return k == reflect.Slice && t.Elem().Kind() == reflect.Uint8
	}
	return false
}

// The fast paths read and write the fields of generated structs through
// their offsets (unsafe), as protobuf-go itself does: the Go type of every
// field was checked against its descriptor (goTypeFits) when the layout was
// built, so each access below uses the field's true Go type.

// sliceHeader is the layout of any Go slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// msg returns the message at address p (a struct of layout gs).
func (gs *goStruct) msg(p unsafe.Pointer) protoreflect.Message {
	return msgOf(reflect.NewAt(gs.ptr.Elem(), p))
}

// value returns the field of the struct at p as a settable reflect.Value.
func (f *goField) value(p unsafe.Pointer) reflect.Value {
	// Through the struct: reflect knows *T of a generated struct T
	// statically, while a pointer to a map type needs a cache lookup.
	return reflect.NewAt(f.owner, p).Elem().Field(f.idx)
}

// ptrAt returns the pointer held by a catPtrScalar or catMessage field.
func (f *goField) ptrAt(p unsafe.Pointer) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Add(p, f.off))
}

// hasRaw is protoreflect.Message.Has for the field of the struct at p.
func (f *goField) hasRaw(p unsafe.Pointer) bool {
	q := unsafe.Add(p, f.off)
	switch f.cat {
	case catPtrScalar, catMessage:
		return *(*unsafe.Pointer)(q) != nil
	case catMap:
		return f.value(p).Len() > 0
	case catList:
		return (*sliceHeader)(q).len > 0
	case catBytes:
		if f.pres {
			return (*sliceHeader)(q).data != nil
		}
		return (*sliceHeader)(q).len > 0
	}
	switch f.kind {
	case protoreflect.BoolKind:
		return *(*bool)(q)
	case protoreflect.StringKind:
		return len(*(*string)(q)) > 0
	}
	if scalarSize(f.kind) == 4 {
		return *(*uint32)(q) != 0 // floats: -0 is present, like protobuf-go
	}
	return *(*uint64)(q) != 0
}

// scalarSize is the Go size of a numeric kind (4 or 8).
func scalarSize(k protoreflect.Kind) int {
	switch k {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind, protoreflect.DoubleKind:
		return 8
	}
	return 4
}

// scalarRaw reads the scalar field of the struct at p (catScalar,
// catBytes, or a non-nil catPtrScalar).
func (f *goField) scalarRaw(p unsafe.Pointer) protoreflect.Value {
	q := unsafe.Add(p, f.off)
	if f.cat == catPtrScalar {
		q = *(*unsafe.Pointer)(q)
	}
	return rawScalar(f.kind, q)
}

// rawScalar reads a Go scalar of kind k at q.
func rawScalar(k protoreflect.Kind, q unsafe.Pointer) protoreflect.Value {
	switch k {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(*(*bool)(q))
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(*(*int32)(q)))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(*(*int32)(q))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(*(*int64)(q))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(*(*uint32)(q))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(*(*uint64)(q))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(*(*float32)(q))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(*(*float64)(q))
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(*(*string)(q))
	}
	return protoreflect.ValueOfBytes(*(*[]byte)(q))
}

// rawEqual reports whether the Go scalars of kind k at bq and cq are equal
// (floats bit for bit).
func rawEqual(k protoreflect.Kind, bq, cq unsafe.Pointer) bool {
	switch k {
	case protoreflect.BoolKind:
		return *(*bool)(bq) == *(*bool)(cq)
	case protoreflect.StringKind:
		return *(*string)(bq) == *(*string)(cq)
	}
	if scalarSize(k) == 4 {
		return *(*uint32)(bq) == *(*uint32)(cq)
	}
	return *(*uint64)(bq) == *(*uint64)(cq)
}

// copyScalar copies a Go scalar of kind k from sq to dq.
func copyScalar(k protoreflect.Kind, dq, sq unsafe.Pointer) {
	switch k {
	case protoreflect.BoolKind:
		*(*bool)(dq) = *(*bool)(sq)
	case protoreflect.StringKind:
		*(*string)(dq) = *(*string)(sq)
	default:
		if scalarSize(k) == 4 {
			*(*uint32)(dq) = *(*uint32)(sq)
		} else {
			*(*uint64)(dq) = *(*uint64)(sq)
		}
	}
}

// msgOf returns the message behind a Go pointer to a generated struct.
func msgOf(rv reflect.Value) protoreflect.Message {
	return rv.Interface().(protoreflect.ProtoMessage).ProtoReflect()
}

// pbScalar converts a Go scalar of fd's kind to a protoreflect.Value
// without boxing.
func pbScalar(fd protoreflect.FieldDescriptor, rv reflect.Value) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(rv.Bool())
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(rv.Int()))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(rv.Int()))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(rv.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(rv.Uint()))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(rv.Uint())
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(rv.Float()))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(rv.Float())
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(rv.String())
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(rv.Bytes())
	}
	return protoreflect.ValueOfMessage(msgOf(rv))
}

// goKeyOrd is keyOrd for a Go map key: an order-preserving uint64 for
// integer and bool keys, the string itself for string keys.
func goKeyOrd(k protoreflect.Kind, rv reflect.Value) (uint64, string) {
	switch k {
	case protoreflect.StringKind:
		return 0, rv.String()
	case protoreflect.BoolKind:
		if rv.Bool() {
			return 1, ""
		}
		return 0, ""
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind,
		protoreflect.Sint64Kind, protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return uint64(rv.Int()) ^ (1 << 63), ""
	}
	return rv.Uint(), ""
}

// scratch holds a reusable map iterator and key/value cells for one
// recursion level.
type scratch struct {
	iter     reflect.MapIter
	key, val reflect.Value
}

func (s *scratch) keyOf(t reflect.Type) reflect.Value {
	if !s.key.IsValid() || s.key.Type() != t {
		s.key = reflect.New(t).Elem()
	}
	return s.key
}

func (s *scratch) valOf(t reflect.Type) reflect.Value {
	if !s.val.IsValid() || s.val.Type() != t {
		s.val = reflect.New(t).Elem()
	}
	return s.val
}
