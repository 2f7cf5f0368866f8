package roomrt

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tickwire/tickwire/netcode"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Handler is a room's game logic as the runtime drives it: package room
// adapts a typed room.Handler[S, I] to it. Every method runs on the room
// goroutine, one at a time; a panic is recovered by the runtime and closes
// the room.
type Handler interface {
	Init(opts []byte) error
	JoinAttempt(p *Player, opts []byte) error
	Join(p *Player)
	Leave(p *Player, reason LeaveReason)
	// Tick gets this tick's raw inputs; the adapter decodes them and calls
	// Room.BadInput for those that do not decode.
	Tick(inputs []Input)
	// Message handles a game message; it returns ErrUnknownMessage (or a
	// decode error wrapping it) when the room does not handle typeName.
	Message(p *Player, typeName string, payload []byte) error
	Terminate(reason CloseReason)
	// Disconnected: p's connection ended; its seat waits for a resume.
	Disconnected(p *Player)
	// Reconnected: p resumed its seat on a new connection.
	Reconnected(p *Player)
	State() proto.Message
	InView(p *Player, dst []uint32) []uint32
}

// Definition is a room type: its Config and how to make its handler.
type Definition struct {
	cfg        Config
	newHandler func(r *Room) Handler
	view       *netcode.ViewFilter
	err        error
	// layouts is the state's Go type layouts, shared by the replicator of
	// every room of the type and every player's view encoder.
	layouts netcode.Layouts
}

// NewDefinition describes a room type whose state has descriptor state.
// interest says whether the handler implements interest management (it is
// required when cfg.InterestField is set).
func NewDefinition(cfg Config, state protoreflect.MessageDescriptor, interest bool, newHandler func(r *Room) Handler) *Definition {
	d := &Definition{cfg: cfg.withDefaults(), newHandler: newHandler}
	if cfg.InterestField != "" {
		d.view, d.err = netcode.NewViewFilter(state, protoreflect.Name(cfg.InterestField))
		if d.err == nil && !interest {
			d.err = errors.New("room: Config.InterestField is set but the handler does not implement room.Interest")
		}
	}
	return d
}

// Config returns the room type's configuration with defaults applied.
func (d *Definition) Config() Config { return d.cfg }

// Err returns why the definition is unusable, or nil.
func (d *Definition) Err() error { return d.err }

// Input is one client input as the runtime queued it.
type Input struct {
	Player  *Player
	Seq     uint32
	Payload []byte
}

// Player is a player in a room. Its fields are the runtime's: package room
// gives handlers a read-only view (Handle).
type Player struct {
	ID         uint32
	UserID     string
	Name       string
	SessionID  string
	JoinedTick uint32
	// RTT and InterpDelay are the client's own latest reports.
	RTT         time.Duration
	InterpDelay time.Duration
	// AckTick is the newest server tick the client said it applied.
	AckTick uint32
	// Handle is the handler's view of this player (package room's
	// *room.Player), set by the Handler in JoinAttempt.
	Handle any
	// Disconnected is set while the player's connection is gone and its
	// seat waits for a resume (since DisconnectedAt).
	Disconnected   bool
	DisconnectedAt time.Time

	resumeGen  uint32 // generation of the newest resume token issued
	graceTimer uint64 // the timer that ends the grace

	conn    Conn
	poller  Poller     // conn, when it reads on the tick
	batch   Batcher    // conn, when it batches a tick's frames
	held    bool       // batch.Hold was called and Release is due
	out     StateFrame // the tick's state frame, deferred to Room.flush
	hasOut  bool
	inputs  *netcode.InputBuffer
	views   *netcode.ViewEncoder
	leaving bool
}

// Conn returns the player's current connection (it changes when the seat
// is resumed). Room goroutine only.
func (p *Player) Conn() Conn { return p.conn }

// LastInput returns the sequence number of the newest input the room
// processed for the player.
func (p *Player) LastInput() uint32 { return p.inputs.LastProcessed() }

// Info returns the player's public description.
func (p *Player) Info() *tickwirev1.PlayerInfo {
	return &tickwirev1.PlayerInfo{PlayerId: p.ID, UserId: p.UserID, Name: p.Name}
}

// LeaveReason says why a player left (the wire enum).
type LeaveReason = tickwirev1.LeaveReason

// Leave reasons.
const (
	LeaveLeft         = tickwirev1.LeaveReason_LEAVE_REASON_LEFT
	LeaveDisconnected = tickwirev1.LeaveReason_LEAVE_REASON_DISCONNECTED
	LeaveKicked       = tickwirev1.LeaveReason_LEAVE_REASON_KICKED
	LeaveRoomClosed   = tickwirev1.LeaveReason_LEAVE_REASON_ROOM_CLOSED
)

// CloseReason says why a room closed; package room's CloseReason has the
// same values.
type CloseReason int

// Close reasons.
const (
	CloseEmpty CloseReason = iota + 1
	CloseRequested
	CloseShutdown
	ClosePanic
)

func (r CloseReason) String() string {
	switch r {
	case CloseEmpty:
		return "empty"
	case CloseRequested:
		return "requested"
	case CloseShutdown:
		return "shutdown"
	case ClosePanic:
		return "panic"
	}
	return fmt.Sprintf("CloseReason(%d)", int(r))
}

// RejectError is a join refused by the handler; Reason is shown to the
// client.
type RejectError struct{ Reason string }

func (e *RejectError) Error() string { return "join rejected: " + e.Reason }

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectError) Is(target error) bool { return target == ErrRejected }

// Sentinel errors.
var (
	ErrUnknownType    = errors.New("room: unknown room type")
	ErrTypeExists     = errors.New("room: room type already registered")
	ErrNotFound       = errors.New("room: room not found")
	ErrFull           = errors.New("room: room is full")
	ErrLocked         = errors.New("room: room is locked")
	ErrRejected       = errors.New("room: join rejected")
	ErrClosed         = errors.New("room: room is closed")
	ErrMailboxFull    = errors.New("room: mailbox full")
	ErrNotInRoom      = errors.New("room: player not in room")
	ErrDraining       = errors.New("room: registry is draining")
	ErrInvalidInput   = errors.New("room: invalid input")
	ErrUnknownMessage = errors.New("room: unknown message type")
	// ErrTokenUsed: a resume token of an older generation (the seat was
	// resumed since, or the token was used already).
	ErrTokenUsed = errors.New("room: resume token already used")
)
