package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tickwire/tickwire/netcode"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Room is a typed handle on the room a Client joined, whose state is S. It
// applies the server's patches, asks for a full state by itself when a
// patch's baseline is unknown, and hands out states and game messages as
// the game's own types. Get one with JoinOrCreate, Create, JoinByID or
// JoinWithReservation; it is valid until the client leaves the room.
//
// A Room is safe for concurrent use. Its callbacks run on the client's read
// goroutine, one at a time, and must not block.
type Room[S proto.Message] struct {
	c      *Client
	joined atomic.Pointer[tickwirev1.Joined]
	states atomic.Pointer[StateTracker[S]]
	hook   *roomHook

	mu        sync.Mutex
	onState   func(state S, tick uint32)
	onMessage map[protoreflect.FullName]func(from uint32, payload []byte)
	onPlayer  func(joined *tickwirev1.PlayerInfo, leftID uint32)
	resyncAt  uint32 // tick of the patch that asked for a full state
	unknown   int
}

// roomHook is how the client's read goroutine reaches the current Room.
type roomHook struct {
	state func(st *tickwirev1.State)
	event func(m *tickwirev1.ServerMessage) bool
	// rejoined: the client reconnected (resumed, or joined a new room of
	// the same type after the old one was lost).
	rejoined func(j *tickwirev1.Joined)
}

// JoinOrCreate joins a room of roomType with a free seat, or creates one,
// and returns its typed handle.
func JoinOrCreate[S proto.Message](ctx context.Context, c *Client, roomType string, o JoinOptions) (*Room[S], error) {
	return joinTyped[S](ctx, c, &tickwirev1.Join{RoomType: roomType, Filter: o.Filter, Options: o.Options, Reservation: o.Reservation})
}

// Create creates a new room of roomType, joins it and returns its handle.
func Create[S proto.Message](ctx context.Context, c *Client, roomType string, o JoinOptions) (*Room[S], error) {
	return joinTyped[S](ctx, c, &tickwirev1.Join{RoomType: roomType, Create: true, Private: o.Private, Filter: o.Filter, Options: o.Options})
}

// JoinByID joins the room with id and returns its handle.
func JoinByID[S proto.Message](ctx context.Context, c *Client, roomID string, o JoinOptions) (*Room[S], error) {
	return joinTyped[S](ctx, c, &tickwirev1.Join{RoomId: roomID, Options: o.Options, Reservation: o.Reservation})
}

// JoinWithReservation joins the room of a matchmaker reservation and
// returns its handle.
func JoinWithReservation[S proto.Message](ctx context.Context, c *Client, reservation string) (*Room[S], error) {
	return joinTyped[S](ctx, c, &tickwirev1.Join{Reservation: reservation})
}

func joinTyped[S proto.Message](ctx context.Context, c *Client, j *tickwirev1.Join) (*Room[S], error) {
	r := &Room[S]{c: c, onMessage: map[protoreflect.FullName]func(uint32, []byte){}}
	r.states.Store(NewStateTracker[S]())
	// The hook is in place before the Join goes out: the first state can
	// follow the Joined reply at once.
	r.hook = &roomHook{state: r.applyState, event: r.event, rejoined: r.rejoined}
	c.hook.Store(r.hook)
	joined, err := c.join(ctx, j)
	if err != nil {
		c.hook.CompareAndSwap(r.hook, nil)
		return nil, err
	}
	r.joined.Store(joined)
	return r, nil
}

// rejoined runs when the client came back after a lost connection.
func (r *Room[S]) rejoined(j *tickwirev1.Joined) {
	if !j.Resumed {
		// A new room: its states start afresh.
		r.states.Store(NewStateTracker[S]())
	}
	r.joined.Store(j)
	r.mu.Lock()
	r.resyncAt = 0
	r.mu.Unlock()
}

// Joined returns the server's Joined reply (room id, player id, tick rate,
// the players already in).
// After a reconnection it is the Joined of the resume (or of the new room
// when the old one was lost).
func (r *Room[S]) Joined() *tickwirev1.Joined { return r.joined.Load() }

// ID returns the room id.
func (r *Room[S]) ID() string { return r.joined.Load().RoomId }

// PlayerID returns this client's player id in the room.
func (r *Room[S]) PlayerID() uint32 { return r.joined.Load().PlayerId }

// State returns a copy of the newest state (yours to keep and change), its
// tick, and the sequence number of the newest input of yours the server
// had processed; ok is false before the first state.
func (r *Room[S]) State() (state S, tick, lastInput uint32, ok bool) {
	return r.states.Load().Latest()
}

// OnState sets fn to receive every new state with its tick. state is a
// copy: fn may keep it.
func (r *Room[S]) OnState(fn func(state S, tick uint32)) {
	r.mu.Lock()
	r.onState = fn
	r.mu.Unlock()
}

// OnPlayers sets fn to hear players come and go: joined is set when a
// player joined, leftID when one left.
func (r *Room[S]) OnPlayers(fn func(joined *tickwirev1.PlayerInfo, leftID uint32)) {
	r.mu.Lock()
	r.onPlayer = fn
	r.mu.Unlock()
}

// SendInput sends one input with the next sequence number and returns it.
// Time inputs with Client.NextInputAt.
func (r *Room[S]) SendInput(input proto.Message) (uint32, error) {
	var buf [128]byte
	b, err := proto.MarshalOptions{}.MarshalAppend(buf[:0], input)
	if err != nil {
		return 0, fmt.Errorf("client: encode input: %w", err)
	}
	return r.c.SendInput(b)
}

// Send sends a game message to the room; its handler registered with
// room.OnMessage for msg's type receives it.
func (r *Room[S]) Send(msg proto.Message) error { return r.c.SendMessage(msg) }

// Leave leaves the room.
func (r *Room[S]) Leave(ctx context.Context) error {
	_, err := r.c.Leave(ctx)
	r.c.hook.CompareAndSwap(r.hook, nil)
	return err
}

// UnknownMessages counts game messages from the server that no OnMessage
// handler took (or that did not decode).
func (r *Room[S]) UnknownMessages() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unknown
}

// OnMessage sets fn to receive the room's game messages of type M (sent by
// the handler with Context.Send or Broadcast). from is the sending player's
// id, 0 for the room. msg is fn's to keep.
func OnMessage[M, S proto.Message](r *Room[S], fn func(from uint32, msg M)) {
	var zero M
	typ := zero.ProtoReflect().Type()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onMessage[typ.Descriptor().FullName()] = func(from uint32, payload []byte) {
		m := typ.New().Interface()
		if err := proto.Unmarshal(payload, m); err != nil {
			r.mu.Lock()
			r.unknown++
			r.mu.Unlock()
			return
		}
		fn(from, m.(M))
	}
}

// applyState runs on the read goroutine for every State frame.
func (r *Room[S]) applyState(st *tickwirev1.State) {
	s, err := r.states.Load().Apply(st)
	if errors.Is(err, netcode.ErrUnknownBaseline) {
		// Ask once per gap: the full state answers every patch after it.
		r.mu.Lock()
		ask := r.resyncAt == 0
		if ask {
			r.resyncAt = st.Tick
		}
		r.mu.Unlock()
		if ask {
			_ = r.c.RequestFullState()
		}
		return
	}
	if err != nil {
		return
	}
	r.mu.Lock()
	if st.BaselineTick == 0 {
		r.resyncAt = 0
	}
	fn := r.onState
	r.mu.Unlock()
	if fn != nil {
		fn(proto.Clone(s).(S), st.Tick)
	}
}

// event runs on the read goroutine for every server event; it reports
// whether it consumed the event.
func (r *Room[S]) event(m *tickwirev1.ServerMessage) bool {
	switch k := m.Kind.(type) {
	case *tickwirev1.ServerMessage_Message:
		r.mu.Lock()
		fn := r.onMessage[protoreflect.FullName(k.Message.TypeName)]
		if fn == nil {
			r.unknown++
		}
		r.mu.Unlock()
		if fn != nil {
			fn(k.Message.FromPlayer, k.Message.Payload)
		}
		return true
	case *tickwirev1.ServerMessage_PlayerJoined:
		r.mu.Lock()
		fn := r.onPlayer
		r.mu.Unlock()
		if fn != nil {
			fn(k.PlayerJoined.Player, 0)
		}
		return fn != nil
	case *tickwirev1.ServerMessage_PlayerLeft:
		r.mu.Lock()
		fn := r.onPlayer
		r.mu.Unlock()
		if fn != nil {
			fn(nil, k.PlayerLeft.PlayerId)
		}
		return fn != nil
	}
	return false
}
