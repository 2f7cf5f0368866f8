package client

import (
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/netcode"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// StateTracker turns State frames into the room's state of type S, applying
// patches to the right baseline (the server's baseline can be older than the
// newest state received; see netcode.ClientStates). It is safe for
// concurrent use.
type StateTracker[S proto.Message] struct {
	mu      sync.Mutex
	states  *netcode.ClientStates[S]
	latest  S
	tick    uint32
	lastSeq uint32
	have    bool
}

// NewStateTracker returns a tracker that keeps the last 64 states.
func NewStateTracker[S proto.Message]() *StateTracker[S] {
	var zero S
	newS := func() S { return zero.ProtoReflect().New().Interface().(S) }
	return &StateTracker[S]{states: netcode.NewClientStates(newS, 64)}
}

// Apply applies one State frame and returns the resulting state (owned by
// the tracker: clone it to keep it). When the frame's baseline is unknown
// the error wraps netcode.ErrUnknownBaseline: call Client.RequestFullState.
func (t *StateTracker[S]) Apply(st *tickwirev1.State) (S, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, err := t.states.Apply(st.Tick, st.BaselineTick, st.Payload)
	if err != nil {
		var zero S
		return zero, fmt.Errorf("client: state of tick %d: %w", st.Tick, err)
	}
	if !t.have || st.Tick >= t.tick {
		t.latest, t.tick, t.lastSeq, t.have = s, st.Tick, st.LastInputSeq, true
	}
	return s, nil
}

// Latest returns a copy of the newest state, its tick and the last input
// sequence the server had processed; ok is false before the first state.
func (t *StateTracker[S]) Latest() (state S, tick, lastSeq uint32, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.have {
		return state, 0, 0, false
	}
	return proto.Clone(t.latest).(S), t.tick, t.lastSeq, true
}

// IsUnknownBaseline reports whether err means a full state is needed.
func IsUnknownBaseline(err error) bool { return errors.Is(err, netcode.ErrUnknownBaseline) }
