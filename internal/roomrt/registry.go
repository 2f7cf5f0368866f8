package roomrt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RegistryConfig configures a Registry. The zero value works.
type RegistryConfig struct {
	// Clock drives every room's tick loop. Default: the system clock.
	Clock Clock
	// Observer receives measurements. Default: NopObserver.
	Observer Observer
	// Logger. Default: slog.Default().
	Logger *slog.Logger
	// NewID makes room ids. Default: 12 random base-32 characters.
	NewID func() string
	// Tokens signs resume tokens; nil turns seat resume (and the
	// reconnection grace) off.
	Tokens TokenIssuer
	// OnRoomOpened, when set, is called once a room created by this
	// registry has run its Init, on the goroutine that called Create. It
	// must not block (the engine queues directory updates).
	OnRoomOpened func(*Room)
	// OnRoomClosed, when set, is called once a room has left the registry
	// (closed, disposed, or failed to start), on the room's goroutine or
	// the caller of Create. It must not block.
	OnRoomClosed func(*Room)
	// Helpers is how many goroutines help big rooms with their socket
	// calls (see room.Config.ParallelIOPlayers). They start with the first
	// big room's tick and stop in Shutdown. Default GOMAXPROCS-1; negative
	// means none.
	Helpers int
}

// Registry is a node's local set of rooms: create, find, join-or-create,
// list. It is safe for concurrent use.
type Registry struct {
	cfg   RegistryConfig
	mu    sync.Mutex
	types map[string]*Definition
	rooms map[string]*Room
	// byType keeps rooms in creation order per type, for join-or-create.
	byType   map[string][]*Room
	draining bool
	// epoch and phases spread the rooms' ticks over the tick period (see
	// pacer); phases is guarded by mu.
	epoch  time.Time
	phases phaseTable
	// placeMu serializes the pick-or-create step of join-or-create so that
	// concurrent joiners fill one new room instead of each creating one.
	placeMu sync.Mutex
	// helpers is shared by the big rooms (parallel.go); nil for none.
	helpers *helperPool
	// behind counts the rooms a tick or more behind (Room.markBehind).
	behind atomic.Int32
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg RegistryConfig) *Registry {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	return &Registry{
		cfg: cfg, epoch: cfg.Clock.Now(), types: map[string]*Definition{}, rooms: map[string]*Room{}, byType: map[string][]*Room{},
		helpers: newHelperPool(helpersFor(cfg.Helpers)),
	}
}

const idAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b[:])
}

// Register adds a room type.
func (g *Registry) Register(name string, def *Definition) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.types[name]; ok {
		return fmt.Errorf("%w: %q", ErrTypeExists, name)
	}
	g.types[name] = def
	return nil
}

// Definition returns a registered room type.
func (g *Registry) Definition(name string) (*Definition, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	d, ok := g.types[name]
	return d, ok
}

// CreateOptions are the options of a new room.
type CreateOptions struct {
	// ID forces the room id (cluster placement); empty picks a random one.
	ID       string
	Private  bool
	Metadata map[string]string
	// Options are passed to the handler's Init.
	Options []byte
}

// Create starts a new room of type typ and returns it once its Init ran.
func (g *Registry) Create(ctx context.Context, typ string, opts CreateOptions) (*Room, error) {
	g.mu.Lock()
	def, ok := g.types[typ]
	draining := g.draining
	g.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, typ)
	}
	if draining {
		return nil, ErrDraining
	}
	id := opts.ID
	if id == "" {
		id = g.cfg.NewID()
	}
	r := newRoom(id, typ, def, g.cfg.Clock, g.cfg.Observer, g.cfg.Logger, opts.Private, opts.Metadata)
	r.onClose = g.remove
	r.tokens = g.cfg.Tokens
	r.helpers = g.helpers
	r.behindCount = &g.behind
	g.mu.Lock()
	if _, dup := g.rooms[id]; dup {
		g.mu.Unlock()
		return nil, fmt.Errorf("room: id %q already in use", id)
	}
	g.rooms[id] = r
	g.byType[typ] = append(g.byType[typ], r)
	r.epoch, r.phase = g.epoch, g.phases.take(r.cfg.MaxPlayers)
	r.draining.Store(g.draining) // a Drain since the check above
	g.mu.Unlock()
	if err := r.start(opts.Options); err != nil {
		g.remove(r)
		return nil, err
	}
	if g.cfg.OnRoomOpened != nil {
		g.cfg.OnRoomOpened(r)
	}
	return r, nil
}

func (g *Registry) remove(r *Room) {
	g.mu.Lock()
	removed := g.rooms[r.id] == r
	if removed {
		delete(g.rooms, r.id)
		g.phases.put(r.phase, r.cfg.MaxPlayers)
	}
	g.byType[r.typ] = slices.DeleteFunc(g.byType[r.typ], func(x *Room) bool { return x == r })
	g.mu.Unlock()
	if removed && g.cfg.OnRoomClosed != nil {
		g.cfg.OnRoomClosed(r)
	}
}

// Get returns the room with id.
func (g *Registry) Get(id string) (*Room, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.rooms[id]
	return r, ok
}

// JoinOrCreate joins the oldest public, unlocked room of type typ that has a
// free seat and whose metadata matches filter, or creates one (metadata =
// filter, options passed to Init) and joins it.
func (g *Registry) JoinOrCreate(ctx context.Context, typ string, filter map[string]string, req JoinRequest) (*Room, JoinResult, error) {
	for attempt := 0; attempt < 8; attempt++ {
		r, err := g.pickOrCreate(ctx, typ, filter, req.Options)
		if err != nil {
			return nil, JoinResult{}, err
		}
		res, err := r.joinReserved(ctx, req)
		if err == nil {
			return r, res, nil
		}
		// The room closed or its handler refused: a refusal is final for a
		// brand new room, but another existing room may still accept.
		if errors.Is(err, ErrRejected) || errors.Is(err, ErrClosed) {
			if attempt == 7 || ctx.Err() != nil {
				return nil, JoinResult{}, err
			}
			continue
		}
		return nil, JoinResult{}, err
	}
	return nil, JoinResult{}, ErrFull
}

// pickOrCreate returns a room with a seat reserved for the caller.
func (g *Registry) pickOrCreate(ctx context.Context, typ string, filter map[string]string, opts []byte) (*Room, error) {
	g.placeMu.Lock()
	defer g.placeMu.Unlock()
	g.mu.Lock()
	candidates := slices.Clone(g.byType[typ])
	_, known := g.types[typ]
	g.mu.Unlock()
	if !known {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, typ)
	}
	for _, r := range candidates {
		if r.private.Load() || !r.matches(filter) {
			continue
		}
		if r.reserveSeat() == nil {
			return r, nil
		}
	}
	r, err := g.Create(ctx, typ, CreateOptions{Metadata: filter, Options: opts})
	if err != nil {
		return nil, err
	}
	if err := r.reserveSeat(); err != nil {
		return nil, err
	}
	return r, nil
}

// List returns the rooms' descriptions, oldest first per type. Private rooms
// are included only when withPrivate is set.
func (g *Registry) List(withPrivate bool) []Info {
	g.mu.Lock()
	rooms := make([]*Room, 0, len(g.rooms))
	for _, r := range g.rooms {
		rooms = append(rooms, r)
	}
	g.mu.Unlock()
	out := make([]Info, 0, len(rooms))
	for _, r := range rooms {
		in := r.Info()
		if in.Private && !withPrivate {
			continue
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Rooms returns the open rooms, in no order.
func (g *Registry) Rooms() []*Room {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Collect(maps.Values(g.rooms))
}

// Len returns the number of open rooms.
func (g *Registry) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.rooms)
}

// Drain stops the creation of new rooms. Running rooms continue while they
// have players (or reserved seats); a room closes (CloseShutdown) at the
// first tick it is empty, whatever its Config.DisposeAfter.
func (g *Registry) Drain() {
	g.mu.Lock()
	g.draining = true
	for _, r := range g.rooms {
		r.draining.Store(true)
	}
	g.mu.Unlock()
}

// Shutdown drains (see Drain: empty rooms close at once), then lets rooms
// with players finish on their own until ctx ends, then closes the rest
// (CloseShutdown) and waits for them (up to 5 s each). Last it stops the
// helpers of big rooms and waits for them.
func (g *Registry) Shutdown(ctx context.Context) error {
	defer g.helpers.stop()
	g.Drain()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
wait:
	for g.Len() > 0 {
		select {
		case <-ctx.Done():
			break wait
		case <-poll.C:
		}
	}
	g.mu.Lock()
	rooms := make([]*Room, 0, len(g.rooms))
	for _, r := range g.rooms {
		rooms = append(rooms, r)
	}
	g.mu.Unlock()
	var errs []error
	for _, r := range rooms {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := r.Close(cctx, CloseShutdown); err != nil {
			errs = append(errs, fmt.Errorf("close room %s: %w", r.id, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}
