package netcode

import (
	"fmt"
	"reflect"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ViewFilter builds a client's view of a state: a copy whose named map field
// (entities by integer id) holds only the ids the client sees. Entities
// entering or leaving the view become map adds and removes in that client's
// patches (ViewEncoder). Safe for concurrent use (it holds no mutable state).
type ViewFilter struct {
	md protoreflect.MessageDescriptor
	fd protoreflect.FieldDescriptor
	// layout caches the Go struct layout of the first generated type
	// seen (set once; reads and writes are atomic).
	layout atomic.Pointer[viewLayout]
}

// viewLayout is the Go struct layout View needs for one generated type.
type viewLayout struct {
	t      reflect.Type // *T
	ok     bool
	mapIdx int   // struct field of the map
	copy   []int // other struct fields with contents (fields, oneofs)
}

func (f *ViewFilter) layoutOf(t reflect.Type) *viewLayout {
	if l := f.layout.Load(); l != nil && l.t == t {
		return l
	}
	var g goTypes
	gs := g.byType(t, f.md)
	l := &viewLayout{t: t, ok: gs.ok}
	if gs.ok {
		for _, gf := range gs.fields {
			switch {
			case gf.idx < 0:
			case gf.fd.Number() == f.fd.Number():
				l.mapIdx = gf.idx
			default:
				l.copy = append(l.copy, gf.idx)
			}
		}
		l.copy = append(l.copy, gs.oneofs...)
	}
	f.layout.CompareAndSwap(nil, l)
	return l
}

// NewViewFilter returns a filter for the map field mapField of messages of
// type md. The map's keys must be an integer kind; ids are converted to it.
func NewViewFilter(md protoreflect.MessageDescriptor, mapField protoreflect.Name) (*ViewFilter, error) {
	fd := md.Fields().ByName(mapField)
	if fd == nil || !fd.IsMap() {
		return nil, fmt.Errorf("%s has no map field %q: %w", md.FullName(), mapField, ErrTypeMismatch)
	}
	switch fd.MapKey().Kind() {
	case protoreflect.BoolKind, protoreflect.StringKind:
		return nil, fmt.Errorf("map field %s: keys must be integers: %w", fd.FullName(), ErrTypeMismatch)
	}
	return &ViewFilter{md: md, fd: fd}, nil
}

// View returns a new message of state's type with every field of state and
// the map field filtered to ids (ids absent from the map are skipped).
//
// The view shares field values (nested messages, lists, map values) with
// state rather than copying them, so state must be immutable: pass the
// Replicator's snapshot (Replicator.Latest), never the live room state.
func (f *ViewFilter) View(state proto.Message, ids []uint32) (proto.Message, error) {
	src := state.ProtoReflect()
	if err := sameType(f.md, src.Descriptor()); err != nil {
		return nil, err
	}
	if rv := reflect.ValueOf(state); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		if l := f.layoutOf(rv.Type()); l.ok {
			return f.viewGo(src, rv, l, ids), nil
		}
	}
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() != f.fd.Number() {
			dst.Set(fd, v)
		}
		return true
	})
	if !src.Has(f.fd) || len(ids) == 0 {
		return dst.Interface(), nil
	}
	sm := src.Get(f.fd).Map()
	dm := dst.Mutable(f.fd).Map()
	kk := f.fd.MapKey().Kind()
	for _, id := range ids {
		var k protoreflect.MapKey
		switch kk {
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			k = protoreflect.ValueOfInt32(int32(id)).MapKey()
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			k = protoreflect.ValueOfInt64(int64(id)).MapKey()
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			k = protoreflect.ValueOfUint64(uint64(id)).MapKey()
		default:
			k = protoreflect.ValueOfUint32(id).MapKey()
		}
		if v := sm.Get(k); v.IsValid() {
			dm.Set(k, v)
		}
	}
	return dst.Interface(), nil
}

// ViewEncoderConfig configures a ViewEncoder. The zero value is usable.
type ViewEncoderConfig struct {
	// History is the number of sent views kept as baselines (default 64).
	History int
}

// ViewEncoder encodes one client's filtered views (interest management).
// A client with a view has its own baseline chain of view states: the
// shared Replicator cache does not apply, each view is encoded for that
// client alone. The room keeps one ViewEncoder per such client.
//
// Views from ViewFilter.View share values with a Replicator snapshot, which
// the Replicator reuses once more than its History ticks have passed: give
// the ViewEncoder a History no larger than the Replicator's (both default
// to 64). Encode never uses a baseline History or more ticks old.
//
// Not safe for concurrent use (room goroutine only).
type ViewEncoder struct {
	ring   []snapshot
	keys   []uint64 // the key each kept view was kept with (EncodeKeyed, Keep)
	differ Differ
	size   int
}

// NewViewEncoder returns a ViewEncoder with cfg's defaults applied.
func NewViewEncoder(cfg ViewEncoderConfig) *ViewEncoder {
	if cfg.History <= 0 {
		cfg.History = 64
	}
	return &ViewEncoder{ring: make([]snapshot, cfg.History), keys: make([]uint64, cfg.History)}
}

// Encode keeps view as the client's view of tick and returns its payload
// against baseline: a patch with used == baseline when the view of baseline
// is kept, else the full encoding with used == 0. Encode takes ownership of
// view: do not modify it afterwards (views from ViewFilter.View qualify).
// The returned payload is freshly allocated.
func (v *ViewEncoder) Encode(tick uint32, view proto.Message, baseline uint32) (payload []byte, used uint32, err error) {
	return v.EncodeKeyed(tick, view, 0, baseline)
}

// base returns the kept view Encode diffs against for baseline at tick,
// nil for none (a full encoding).
func (v *ViewEncoder) base(tick, baseline uint32) (proto.Message, int) {
	// Baselines History or more ticks old are never used, even if their
	// slot still holds them (skipped ticks): views share values with
	// Replicator snapshots, which are recycled after History ticks.
	if baseline != 0 && baseline != tick && int64(tick)-int64(baseline) < int64(len(v.ring)) {
		i := int(baseline % uint32(len(v.ring)))
		if s := v.ring[i]; s.state != nil && s.tick == baseline {
			return s.state, i
		}
	}
	return nil, -1
}

// Base says what Encode would encode against for baseline at tick: used
// is the baseline (0: a full encoding) and key the key its view was kept
// with. Clients whose views of tick are equal and whose (used, key) are
// equal, with keys that identify view contents, get the same payload:
// encode it once (EncodeKeyed) and Keep the view for the others.
func (v *ViewEncoder) Base(tick, baseline uint32) (used uint32, key uint64) {
	if _, i := v.base(tick, baseline); i >= 0 {
		return baseline, v.keys[i]
	}
	return 0, 0
}

// Keep records view, kept with key, as the client's view of tick without
// encoding it: the client is sent a payload encoded for another client
// whose view and base coincide (see Base). Keep takes ownership of view as
// Encode does.
func (v *ViewEncoder) Keep(tick uint32, view proto.Message, key uint64) {
	i := int(tick % uint32(len(v.ring)))
	v.ring[i] = snapshot{tick: tick, state: view}
	v.keys[i] = key
}

// EncodeKeyed is Encode that keeps view with key (see Base): a key that
// identifies the view's contents, such as a hash of its entity ids with
// the tick implied.
func (v *ViewEncoder) EncodeKeyed(tick uint32, view proto.Message, key uint64, baseline uint32) (payload []byte, used uint32, err error) {
	base, _ := v.base(tick, baseline)
	v.Keep(tick, view, key)
	if base == nil {
		payload, err = proto.MarshalOptions{Deterministic: true}.Marshal(view)
		if err != nil {
			return nil, 0, fmt.Errorf("netcode: encode full view: %w", err)
		}
		v.size = len(payload)
		return payload, 0, nil
	}
	payload, err = v.differ.AppendDiff(make([]byte, 0, 64+v.size/4), base, view)
	if err != nil {
		return nil, 0, err
	}
	return payload, baseline, nil
}

// SetCache makes the encoder share map-field patches through c with the
// other encoders of the room (see DiffCache); nil turns that off.
func (v *ViewEncoder) SetCache(c *DiffCache) { v.differ.cache = c }

// Has reports whether the view of tick is kept.
func (v *ViewEncoder) Has(tick uint32) bool {
	s := v.ring[int(tick%uint32(len(v.ring)))]
	return tick != 0 && s.state != nil && s.tick == tick
}

// viewGo is View over a generated struct: the other fields are copied
// shallowly and the map is filtered with reflect, without boxing each key.
func (f *ViewFilter) viewGo(src protoreflect.Message, rv reflect.Value, l *viewLayout, ids []uint32) proto.Message {
	ss := rv.Elem()
	dv := reflect.New(ss.Type())
	ds := dv.Elem()
	for _, idx := range l.copy {
		ds.Field(idx).Set(ss.Field(idx))
	}
	out := msgOf(dv)
	if u := src.GetUnknown(); len(u) > 0 {
		out.SetUnknown(u)
	}
	sm := ss.Field(l.mapIdx)
	if sm.Len() == 0 || len(ids) == 0 {
		return out.Interface()
	}
	dm := reflect.MakeMapWithSize(sm.Type(), len(ids))
	key := reflect.New(sm.Type().Key()).Elem()
	signed := key.CanInt()
	for _, id := range ids {
		if signed {
			key.SetInt(int64(id))
		} else {
			key.SetUint(uint64(id))
		}
		if v := sm.MapIndex(key); v.IsValid() {
			dm.SetMapIndex(key, v)
		}
	}
	if dm.Len() > 0 {
		ds.Field(l.mapIdx).Set(dm)
	}
	return out.Interface()
}
