package netcode

import (
	"math"
	"reflect"
	"strconv"
	"strings"

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
// (Differ, Replicator, ViewFilter user) keeps its own: there is no
// package-level state. Not safe for concurrent use.
type goTypes struct {
	m map[reflect.Type]*goStruct
}

// goStruct is the layout of one generated message struct.
type goStruct struct {
	ok bool // the fast paths apply
	// field[i] is the Go struct field index of descriptor field i
	// (Fields().Get(i)), or -1 for a member of a real oneof.
	field []int
	// order is the field order of the patch mask (sortedOrder).
	order []int
	// copy lists the struct fields that hold the message's contents:
	// one per field outside real oneofs, one interface per real oneof.
	copy []int
}

// lookup returns the struct value (addressable) behind m and its layout, or
// ok == false when the fast paths do not apply to m (including a nil
// pointer message).
func (g *goTypes) lookup(m protoreflect.Message) (reflect.Value, *goStruct, bool) {
	rv := reflect.ValueOf(m.Interface())
	gs := g.byType(rv.Type(), m.Descriptor())
	if !gs.ok || rv.IsNil() {
		return reflect.Value{}, gs, false
	}
	return rv.Elem(), gs, true
}

// byType returns the layout of the message type t with descriptor md.
func (g *goTypes) byType(t reflect.Type, md protoreflect.MessageDescriptor) *goStruct {
	gs := g.m[t]
	if gs == nil {
		if g.m == nil {
			g.m = make(map[reflect.Type]*goStruct)
		}
		gs = newGoStruct(t, md)
		g.m[t] = gs
	}
	return gs
}

func newGoStruct(t reflect.Type, md protoreflect.MessageDescriptor) *goStruct {
	gs := &goStruct{}
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct || md.ExtensionRanges().Len() > 0 {
		return gs
	}
	st := t.Elem()
	byNum := make(map[protoreflect.FieldNumber]int)
	byOneof := make(map[string]int)
	for i := 0; i < st.NumField(); i++ {
		sf := st.Field(i)
		if !sf.IsExported() {
			continue // state, sizeCache, unknownFields
		}
		if tag, ok := sf.Tag.Lookup("protobuf"); ok {
			parts := strings.Split(tag, ",")
			if len(parts) < 2 {
				return gs
			}
			n, err := strconv.Atoi(parts[1])
			if err != nil {
				return gs
			}
			byNum[protoreflect.FieldNumber(n)] = i
			continue
		}
		if name, ok := sf.Tag.Lookup("protobuf_oneof"); ok && sf.Type.Kind() == reflect.Interface {
			byOneof[name] = i
			continue
		}
		return gs // an exported field of unknown meaning (e.g. XXX_)
	}
	fields := md.Fields()
	gs.field = make([]int, fields.Len())
	for i := range gs.field {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			gs.field[i] = -1
			continue
		}
		idx, ok := byNum[fd.Number()]
		if !ok || !goTypeFits(fd, st.Field(idx).Type) {
			return gs
		}
		gs.field[i] = idx
		gs.copy = append(gs.copy, idx)
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		od := oneofs.Get(i)
		if od.IsSynthetic() {
			continue
		}
		idx, ok := byOneof[string(od.Name())]
		if !ok {
			return gs
		}
		gs.copy = append(gs.copy, idx)
	}
	gs.order = sortedOrder(fields, nil)
	gs.ok = true
	return gs
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

// goHas is protoreflect.Message.Has for a field held in struct field rv of
// a generated message.
func goHas(fd protoreflect.FieldDescriptor, rv reflect.Value) bool {
	switch rv.Kind() {
	case reflect.Pointer:
		return !rv.IsNil()
	case reflect.Map:
		return rv.Len() > 0
	case reflect.Slice:
		if fd.HasPresence() && !fd.IsList() {
			return !rv.IsNil() // bytes with explicit presence
		}
		return rv.Len() > 0
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int32, reflect.Int64:
		return rv.Int() != 0
	case reflect.Uint32, reflect.Uint64:
		return rv.Uint() != 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() != 0 || math.Signbit(rv.Float())
	case reflect.String:
		return rv.Len() > 0
	}
	return false
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
