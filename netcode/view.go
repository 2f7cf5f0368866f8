package netcode

import (
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"unsafe"

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
	// Layouts, when set, is where the encoder reads the layouts of the
	// state's Go types, shared with other owners (a room's replicator and
	// its other players' encoders); nil: it keeps its own.
	Layouts *Layouts
}

// ViewEncoder encodes one client's filtered views (interest management):
// the client's view of a tick is a snapshot with the filter's map field
// restricted to the ids the client sees (ViewFilter.View), and its payload
// is a patch against the client's view of its baseline tick. A client with
// a view has its own baseline chain: the shared Replicator cache does not
// apply. The room keeps one ViewEncoder per such client.
//
// A view is kept as its snapshot and its ids, not as a message: encoding
// a patch builds no view, and allocates nothing once the encoder's scratch
// space has grown. The snapshots must be Replicator snapshots
// (Replicator.Latest), which the Replicator reuses once more than its
// History ticks have passed: give the ViewEncoder a History no larger than
// the Replicator's (both default to 64). Encode never uses a baseline
// History or more ticks old.
//
// Not safe for concurrent use (room goroutine only).
type ViewEncoder struct {
	f      *ViewFilter
	ring   []keptView
	differ Differ
}

// keptView is a client's view of one tick: snap filtered to ids (sorted,
// without duplicates), kept with key.
type keptView struct {
	tick uint32
	snap proto.Message
	ids  []uint32
	key  uint64
}

// NewViewEncoder returns a ViewEncoder of the views f makes, with cfg's
// defaults applied.
func NewViewEncoder(f *ViewFilter, cfg ViewEncoderConfig) *ViewEncoder {
	if cfg.History <= 0 {
		cfg.History = 64
	}
	v := &ViewEncoder{f: f, ring: make([]keptView, cfg.History)}
	v.differ.types.shared = cfg.Layouts
	return v
}

// Encode is AppendEncode into a new buffer, with key 0.
func (v *ViewEncoder) Encode(tick uint32, snap proto.Message, ids []uint32, baseline uint32) (payload []byte, used uint32, err error) {
	return v.AppendEncode(nil, tick, snap, ids, 0, baseline)
}

// base returns the kept view Encode diffs against for baseline at tick,
// nil for none (a full encoding).
func (v *ViewEncoder) base(tick, baseline uint32) *keptView {
	// Baselines History or more ticks old are never used, even if their
	// slot still holds them (skipped ticks): their snapshots are recycled
	// by the Replicator after History ticks.
	if baseline != 0 && baseline != tick && int64(tick)-int64(baseline) < int64(len(v.ring)) {
		k := &v.ring[int(baseline%uint32(len(v.ring)))]
		if k.snap != nil && k.tick == baseline {
			return k
		}
	}
	return nil
}

// Base says what Encode would encode against for baseline at tick: used
// is the baseline (0: a full encoding) and key the key its view was kept
// with. Clients whose views of tick are equal and whose (used, key) are
// equal, with keys that identify view contents, get the same payload:
// encode it once (AppendEncode) and Keep the view for the others.
func (v *ViewEncoder) Base(tick, baseline uint32) (used uint32, key uint64) {
	if k := v.base(tick, baseline); k != nil {
		return baseline, k.key
	}
	return 0, 0
}

// Keep records the client's view of tick, snapshot snap filtered to ids,
// kept with key, without encoding it: the client is sent a payload encoded
// for another client whose view and base coincide (see Base). ids is
// copied; snap must stay unchanged while it may be a baseline (see
// ViewEncoder).
func (v *ViewEncoder) Keep(tick uint32, snap proto.Message, ids []uint32, key uint64) {
	k := &v.ring[int(tick%uint32(len(v.ring)))]
	k.tick, k.snap, k.key = tick, snap, key
	k.ids = append(k.ids[:0], ids...)
	if !slices.IsSorted(k.ids) {
		slices.Sort(k.ids)
	}
	k.ids = slices.Compact(k.ids)
}

// AppendEncode keeps the client's view of tick (snap filtered to ids, kept
// with key: see Keep and Base) and appends its payload against baseline to
// dst: a patch with used == baseline when the view of baseline is kept,
// else the full encoding of the view with used == 0. It returns the
// extended buffer; on error, dst unchanged. Patches allocate nothing once
// the encoder's scratch space has grown; a full encoding builds the view.
func (v *ViewEncoder) AppendEncode(dst []byte, tick uint32, snap proto.Message, ids []uint32, key uint64, baseline uint32) (out []byte, used uint32, err error) {
	base := v.base(tick, baseline) // another slot than tick's (tick-History < baseline < tick)
	v.Keep(tick, snap, ids, key)
	cur := &v.ring[int(tick%uint32(len(v.ring)))]
	if base == nil {
		view, err := v.f.View(snap, cur.ids)
		if err != nil {
			return dst, 0, err
		}
		out, err = marshalOpts.MarshalAppend(dst, view)
		if err != nil {
			return dst, 0, fmt.Errorf("netcode: encode full view: %w", err)
		}
		return out, 0, nil
	}
	out, err = v.differ.appendView(dst, v.f, base.snap, base.ids, snap, cur.ids)
	if err != nil {
		return dst, 0, err
	}
	return out, baseline, nil
}

// SetCache makes the encoder share patches through c with the other
// encoders of the room (see DiffCache); nil turns that off.
func (v *ViewEncoder) SetCache(c *DiffCache) { v.differ.cache = c }

// Has reports whether the view of tick is kept.
func (v *ViewEncoder) Has(tick uint32) bool {
	k := v.ring[int(tick%uint32(len(v.ring)))]
	return tick != 0 && k.snap != nil && k.tick == tick
}

// viewDiff is the filtered field of a patch between two views (see
// Differ.appendView): the field's index in the goStruct and the ids of
// each view, sorted and without duplicates.
type viewDiff struct {
	field      int
	bIDs, cIDs []uint32
}

// appendView appends the patch from the view of bSnap filtered to bIDs to
// the view of cSnap filtered to cIDs (ids sorted, without duplicates): the
// patch Diff would make of the two views of f, without building them. The
// entities of the filtered map are diffed through d.cache when set.
func (d *Differ) appendView(dst []byte, f *ViewFilter, bSnap proto.Message, bIDs []uint32, cSnap proto.Message, cIDs []uint32) ([]byte, error) {
	b, c := bSnap.ProtoReflect(), cSnap.ProtoReflect()
	if err := sameType(f.md, c.Descriptor()); err != nil {
		return dst, err
	}
	if err := sameType(b.Descriptor(), c.Descriptor()); err != nil {
		return dst, err
	}
	field := -1
	cp, cgs, cok := d.types.lookup(c)
	bp, bgs, bok := d.types.lookup(b)
	if cok && bok && bgs == cgs {
		for i := range cgs.fields {
			if gf := &cgs.fields[i]; gf.fd.Number() == f.fd.Number() && gf.cat == catMap && gf.pmap != pmNone && gf.pmap != pmString {
				field = i
			}
		}
	}
	if field < 0 {
		// Not a generated struct with a map of messages: build the views.
		bv, err := f.View(bSnap, bIDs)
		if err != nil {
			return dst, err
		}
		cv, err := f.View(cSnap, cIDs)
		if err != nil {
			return dst, err
		}
		return d.AppendDiff(dst, bv, cv)
	}
	d.vw = viewDiff{field: field, bIDs: bIDs, cIDs: cIDs}
	n := len(dst)
	out, err := d.appendStructView(dst, b, c, bp, cp, cgs, 1, &d.vw)
	d.vw = viewDiff{}
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

// appendViewMap is appendGoField for the filtered map field f of two
// snapshots (see viewDiff).
func (d *Differ) appendViewMap(dst []byte, bp, cp unsafe.Pointer, f *goField, vw *viewDiff, depth int) ([]byte, int, error) {
	switch f.pmap {
	case pmUint32:
		return viewMapDiff(d, dst, bp, cp, f, vw, depth, func(id uint32) uint32 { return id }, func(k uint32) uint64 { return uint64(k) })
	case pmUint64:
		return viewMapDiff(d, dst, bp, cp, f, vw, depth, func(id uint32) uint64 { return uint64(id) }, func(k uint64) uint64 { return k })
	case pmInt32:
		return viewMapDiff(d, dst, bp, cp, f, vw, depth, func(id uint32) int32 { return int32(id) }, func(k int32) uint64 { return uint64(int64(k)) ^ (1 << 63) })
	}
	return viewMapDiff(d, dst, bp, cp, f, vw, depth, func(id uint32) int64 { return int64(id) }, func(k int64) uint64 { return uint64(k) ^ (1 << 63) })
}

// viewMapDiff diffs the entities of the base view (the ids of vw.bIDs in
// the base map) against those of the current view, as ptrMapDiff diffs
// two maps, in one merge of the two sorted id lists; keyOf converts an id
// to a key as ViewFilter.View does, ordOf is keyOrd.
func viewMapDiff[K comparable](d *Differ, dst []byte, bp, cp unsafe.Pointer, f *goField, vw *viewDiff, depth int, keyOf func(uint32) K, ordOf func(K) uint64) ([]byte, int, error) {
	maps := [2]unsafe.Pointer{*(*unsafe.Pointer)(unsafe.Add(bp, f.off)), *(*unsafe.Pointer)(unsafe.Add(cp, f.off))}
	bm, cm := *(*map[K]unsafe.Pointer)(unsafe.Add(bp, f.off)), *(*map[K]unsafe.Pointer)(unsafe.Add(cp, f.off))
	lv := d.level(depth)
	lv.ents, lv.buf = lv.ents[:0], lv.buf[:0]
	gs := okOrNil(f.sub)
	et := f.typ.Elem()
	inBase, inCur, common := 0, 0, 0
	b, c := vw.bIDs, vw.cIDs
	for len(b) > 0 || len(c) > 0 {
		var id uint32
		inB, inC := false, false
		switch {
		case len(c) == 0 || len(b) > 0 && b[0] < c[0]:
			id, inB, b = b[0], true, b[1:]
		case len(b) == 0 || c[0] < b[0]:
			id, inC, c = c[0], true, c[1:]
		default:
			id, inB, inC, b, c = b[0], true, true, b[1:], c[1:]
		}
		k := keyOf(id)
		var bv, cv unsafe.Pointer
		if inB {
			bv, inB = bm[k]
		}
		if inC {
			cv, inC = cm[k]
		}
		switch {
		case inB && inC:
			inBase, inCur, common = inBase+1, inCur+1, common+1
			if err := d.viewEntry(lv, maps, ordOf(k), bv, cv, gs, et, depth); err != nil {
				return dst, 0, err
			}
		case inB:
			inBase++
			lv.ents = append(lv.ents, mapEnt{class: entRemoved, ord: ordOf(k)})
		case inC:
			inCur++
			lv.ents = append(lv.ents, mapEnt{class: entSet, ord: ordOf(k), v: protoreflect.ValueOfMessage(msgAt(et, cv))})
		}
	}
	if inCur == 0 {
		if inBase > 0 {
			return dst, opClear, nil
		}
		return dst, opKeep, nil
	}
	return d.encodeMap(dst, lv, inBase > 0, common, f.fd)
}

// viewEntry is patchEntry for an entity in both views, through d.cache
// when set: the entity's patch between two snapshots is the same in every
// view that holds it.
func (d *Differ) viewEntry(lv *diffLevel, maps [2]unsafe.Pointer, ord uint64, bv, cv unsafe.Pointer, gs *goStruct, et reflect.Type, depth int) error {
	patch := func() error {
		if gs != nil && bv != nil && cv != nil {
			return d.patchEntry(lv, ord, "", nil, nil, bv, cv, gs, depth)
		}
		return d.patchEntry(lv, ord, "", msgAt(et, bv), msgAt(et, cv), nil, nil, nil, depth)
	}
	c := d.cache
	if c == nil {
		return patch()
	}
	key := entKey{maps: maps, ord: ord}
	if p, ok := c.ents[key]; ok {
		if p.op == opPatch {
			start := len(lv.buf)
			lv.buf = append(lv.buf, c.buf[p.lo:p.hi]...)
			lv.ents = append(lv.ents, mapEnt{class: entPatched, ord: ord, start: int32(start), end: int32(len(lv.buf))})
		}
		return nil
	}
	n := len(lv.ents)
	if err := patch(); err != nil {
		return err
	}
	if c.ents == nil {
		c.ents = map[entKey]cachedPatch{}
	}
	if len(lv.ents) == n {
		c.ents[key] = cachedPatch{op: opKeep}
		return nil
	}
	e := lv.ents[n]
	lo := len(c.buf)
	c.buf = append(c.buf, lv.buf[e.start:e.end]...)
	c.ents[key] = cachedPatch{lo: lo, hi: len(c.buf), op: opPatch}
	return nil
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
