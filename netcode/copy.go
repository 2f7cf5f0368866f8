package netcode

import (
	"reflect"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// copier deep-copies a message into an existing message of the same type,
// reusing its sub-messages, lists and map entries, so that steady-state
// snapshots (Replicator.Commit) allocate almost nothing. Not safe for
// concurrent use.
type copier struct {
	types goTypes
	lv    []*scratch // by depth
}

// copyInto makes dst equal (proto.Equal) to src, sharing nothing mutable
// with it: later changes to src do not show in dst. dst must be a valid
// message of src's type that nothing else uses, since its sub-messages are
// overwritten in place. It reports false, leaving dst unchanged, when the
// types differ.
func (c *copier) copyInto(dst, src proto.Message) bool {
	d, s := dst.ProtoReflect(), src.ProtoReflect()
	if d.Descriptor() != s.Descriptor() || reflect.TypeOf(dst) != reflect.TypeOf(src) || !d.IsValid() {
		return false
	}
	c.message(d, s, 0)
	return true
}

func (c *copier) scratch(depth int) *scratch {
	for len(c.lv) <= depth {
		c.lv = append(c.lv, new(scratch))
	}
	return c.lv[depth]
}

// message copies src into dst (same type, dst valid).
func (c *copier) message(dst, src protoreflect.Message, depth int) {
	if dp, gs, ok := c.types.lookup(dst); ok {
		if sp, _, ok := c.types.lookup(src); ok {
			c.structMsg(dp, sp, gs, depth)
			return
		}
	}
	// Not a generated struct (or a nil source): the general route.
	proto.Reset(dst.Interface())
	proto.Merge(dst.Interface(), src.Interface())
}

// structMsg copies the generated struct at sp into the one at dp (layout
// gs, ok).
func (c *copier) structMsg(dp, sp unsafe.Pointer, gs *goStruct, depth int) {
	fields := gs.fields
	if gs.flatHi != 0 {
		// Every field is a fixed-size scalar: one copy of their bytes.
		n := int(gs.flatHi - gs.flatLo)
		copy(unsafe.Slice((*byte)(unsafe.Add(dp, gs.flatLo)), n), unsafe.Slice((*byte)(unsafe.Add(sp, gs.flatLo)), n))
		fields = nil
	}
	for i := range fields {
		f := &fields[i]
		switch f.cat {
		case catOneof:
			// copied with its oneof below
		case catScalar:
			copyScalar(f.kind, unsafe.Add(dp, f.off), unsafe.Add(sp, f.off))
		case catPtrScalar, catMessage:
			dq := (*unsafe.Pointer)(unsafe.Add(dp, f.off))
			sq := f.ptrAt(sp)
			if sq == nil {
				*dq = nil
				continue
			}
			if *dq == nil {
				*dq = reflect.New(f.typ.Elem()).UnsafePointer()
			}
			switch {
			case f.cat == catPtrScalar:
				copyScalar(f.kind, *dq, sq)
			case f.sub.ok:
				c.structMsg(*dq, sq, f.sub, depth+1)
			default:
				c.message(msgOf(f.value(dp)), msgOf(f.value(sp)), depth+1)
			}
		case catMap:
			if f.pmap != pmNone {
				c.ptrMap(dp, sp, f, depth)
			} else {
				c.mapValue(f.value(dp), f.value(sp), okOrNil(f.sub), depth)
			}
		default: // bytes, lists
			c.value(f.value(dp), f.value(sp), depth)
		}
	}
	if len(gs.oneofs) > 0 {
		ds, ss := reflect.NewAt(gs.ptr.Elem(), dp).Elem(), reflect.NewAt(gs.ptr.Elem(), sp).Elem()
		for _, idx := range gs.oneofs {
			c.value(ds.Field(idx), ss.Field(idx), depth)
		}
	}
	// Unknown fields: copied through protoreflect when there are any.
	if gs.unknown >= 0 {
		off := gs.unknownOff
		if (*sliceHeader)(unsafe.Add(sp, off)).len == 0 && (*sliceHeader)(unsafe.Add(dp, off)).len == 0 {
			return
		}
	}
	dm, sm := gs.msg(dp), gs.msg(sp)
	if u, du := sm.GetUnknown(), dm.GetUnknown(); len(u) > 0 || len(du) > 0 {
		var nu protoreflect.RawFields
		if len(u) > 0 {
			nu = append(du[:0:0], u...)
		}
		dm.SetUnknown(nu)
	}
}

// value deep-copies the Go value of a generated message field, list
// element, map value or oneof into the settable dst.
func (c *copier) value(dst, src reflect.Value, depth int) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			if !dst.IsNil() {
				dst.SetZero()
			}
			return
		}
		if dst.IsNil() {
			dst.Set(reflect.New(src.Type().Elem()))
		}
		if src.Type().Elem().Kind() == reflect.Struct {
			c.message(msgOf(dst), msgOf(src), depth+1)
		} else {
			dst.Elem().Set(src.Elem()) // scalar with presence
		}
	case reflect.Interface: // oneof: nil or a pointer to a one-field wrapper struct
		if src.IsNil() {
			if !dst.IsNil() {
				dst.SetZero()
			}
			return
		}
		sw := src.Elem()
		dw := dst.Elem()
		if dst.IsNil() || dw.Type() != sw.Type() {
			dw = reflect.New(sw.Type().Elem())
			dst.Set(dw)
		}
		for i := 0; i < sw.Elem().NumField(); i++ {
			c.value(dw.Elem().Field(i), sw.Elem().Field(i), depth)
		}
	case reflect.Slice:
		c.slice(dst, src, depth)
	case reflect.Map:
		c.mapValue(dst, src, nil, depth)
	default: // bool, integers, floats, string: immutable
		dst.Set(src)
	}
}

func (c *copier) slice(dst, src reflect.Value, depth int) {
	if src.IsNil() {
		if !dst.IsNil() {
			dst.SetZero()
		}
		return
	}
	n := src.Len()
	if dst.IsNil() || dst.Cap() < n {
		dst.Set(reflect.MakeSlice(src.Type(), n, n))
	} else {
		// Elements past n keep their old sub-messages for reuse.
		dst.SetLen(n)
	}
	switch src.Type().Elem().Kind() {
	case reflect.Pointer, reflect.Slice: // messages, bytes
		for i := 0; i < n; i++ {
			c.value(dst.Index(i), src.Index(i), depth)
		}
	default:
		reflect.Copy(dst, src)
	}
}

// mapValue copies a map; gs is the layout of its message values, if any.
func (c *copier) mapValue(dst, src reflect.Value, gs *goStruct, depth int) {
	n := src.Len()
	if n == 0 {
		if dst.Len() > 0 {
			dst.Clear()
		}
		return
	}
	if dst.IsNil() {
		dst.Set(reflect.MakeMapWithSize(src.Type(), n))
	}
	sc := c.scratch(depth)
	key := sc.keyOf(src.Type().Key())
	et := src.Type().Elem()
	it := &sc.iter
	it.Reset(src)
	switch et.Kind() {
	case reflect.Pointer: // message values: reuse the entry's message
		for it.Next() {
			key.SetIterKey(it)
			sv := it.Value()
			if sv.IsNil() {
				dst.SetMapIndex(key, sv)
				continue
			}
			dv := dst.MapIndex(key)
			if !dv.IsValid() || dv.IsNil() {
				dv = reflect.New(et.Elem())
				dst.SetMapIndex(key, dv)
			}
			if gs != nil {
				c.structMsg(dv.UnsafePointer(), sv.UnsafePointer(), gs, depth+1)
			} else {
				c.message(msgOf(dv), msgOf(sv), depth+1)
			}
		}
	case reflect.Slice: // bytes values
		for it.Next() {
			key.SetIterKey(it)
			sv := it.Value()
			dv := reflect.MakeSlice(et, sv.Len(), sv.Len())
			reflect.Copy(dv, sv)
			dst.SetMapIndex(key, dv)
		}
	default:
		val := sc.valOf(et)
		for it.Next() {
			key.SetIterKey(it)
			val.SetIterValue(it)
			dst.SetMapIndex(key, val)
		}
	}
	if dst.Len() > n {
		// dst holds every key of src now; drop the others.
		it.Reset(dst)
		for it.Next() {
			key.SetIterKey(it)
			if !src.MapIndex(key).IsValid() {
				dst.SetMapIndex(key, reflect.Value{})
			}
		}
	}
	it.Reset(reflect.Value{})
}

// ptrMap copies a map of message values with a plain key type
// (goField.pmap) natively, as map[K]unsafe.Pointer.
func (c *copier) ptrMap(dp, sp unsafe.Pointer, f *goField, depth int) {
	switch f.pmap {
	case pmUint32:
		copyPtrMap[uint32](c, dp, sp, f, depth)
	case pmUint64:
		copyPtrMap[uint64](c, dp, sp, f, depth)
	case pmInt32:
		copyPtrMap[int32](c, dp, sp, f, depth)
	case pmInt64:
		copyPtrMap[int64](c, dp, sp, f, depth)
	default:
		copyPtrMap[string](c, dp, sp, f, depth)
	}
}

func copyPtrMap[K comparable](c *copier, dp, sp unsafe.Pointer, f *goField, depth int) {
	sm := *(*map[K]unsafe.Pointer)(unsafe.Add(sp, f.off))
	dmp := (*map[K]unsafe.Pointer)(unsafe.Add(dp, f.off))
	if len(sm) == 0 {
		clear(*dmp)
		return
	}
	if *dmp == nil {
		// Made with the field's own type; only accessed natively.
		f.value(dp).Set(reflect.MakeMapWithSize(f.typ, len(sm)))
	}
	dm := *dmp
	gs := okOrNil(f.sub)
	et := f.typ.Elem()
	for k, sv := range sm {
		if sv == nil {
			dm[k] = nil
			continue
		}
		dv := dm[k]
		if dv == nil {
			dv = reflect.New(et.Elem()).UnsafePointer()
			dm[k] = dv
		}
		if gs != nil {
			c.structMsg(dv, sv, gs, depth+1)
		} else {
			c.message(msgAt(et, dv), msgAt(et, sv), depth+1)
		}
	}
	if len(dm) > len(sm) {
		for k := range dm {
			if _, ok := sm[k]; !ok {
				delete(dm, k)
			}
		}
	}
}
