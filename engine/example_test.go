package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/room"
)

// counter is a game whose state adds up the players' inputs.
type counter struct {
	room.Base[*wrapperspb.UInt64Value, *wrapperspb.UInt32Value]
}

func (counter) Tick(c *room.Context[*wrapperspb.UInt64Value], in []room.Input[*wrapperspb.UInt32Value]) {
	for _, i := range in {
		c.State.Value += uint64(i.Msg.Value)
	}
}

// A node with one room type, mounted in an existing mux next to the
// application's own route, and a Go client that joins and plays.
func Example() {
	e, err := engine.New(engine.Config{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		DrainTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	if err := e.RegisterRoom("counter", room.Define(room.Config{TickRate: 50, MaxPlayers: 4},
		func() room.Handler[*wrapperspb.UInt64Value, *wrapperspb.UInt32Value] { return counter{} })); err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", e.Handler())
	mux.HandleFunc("/api/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ln, mux) }() // runs the node, then drains when ctx ends

	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialWhenUp(dctx, "ws://"+ln.Addr().String()+"/ws")
	if err != nil {
		panic(err)
	}
	r, err := client.JoinOrCreate[*wrapperspb.UInt64Value](dctx, c, "counter", client.JoinOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println("joined a", r.Joined().RoomType, "room at", r.Joined().TickRate, "Hz")
	for _, v := range []uint32{1, 2, 3} {
		_, _ = r.SendInput(wrapperspb.UInt32(v))
	}
	for dctx.Err() == nil {
		if s, _, last, ok := r.State(); ok && last == 3 {
			fmt.Println("sum of the inputs, by the server:", s.Value)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = c.Close()
	stop()
	<-done
	// Output:
	// joined a counter room at 50 Hz
	// sum of the inputs, by the server: 6
}

// dialWhenUp dials until the node, started in another goroutine, accepts.
func dialWhenUp(ctx context.Context, url string) (*client.Client, error) {
	for {
		c, err := client.Dial(ctx, url, client.Options{Name: "ada"})
		if err == nil || ctx.Err() != nil {
			return c, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The monitor page: set an admin token and serve AdminHandler on a private
// address; operators open /monitor/ and give the token once. Scripts call
// its API with the token as a bearer token.
func ExampleEngine_AdminHandler() {
	e, err := engine.New(engine.Config{
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		AdminToken: "a long random secret", // e.g. from the environment
		// AdminAddr: "10.0.0.5:9090", // where ListenAndServe also serves AdminHandler
	})
	if err != nil {
		panic(err)
	}
	admin := httptest.NewServer(e.AdminHandler())
	defer admin.Close()

	req, _ := http.NewRequest("GET", admin.URL+"/monitor/api/rooms", nil)
	req.Header.Set("Authorization", "Bearer a long random secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	var list struct {
		Rooms []struct{ ID string }
		Total int
	}
	_ = json.NewDecoder(resp.Body).Decode(&list)
	_ = resp.Body.Close()
	fmt.Println(resp.StatusCode, list.Total, "rooms")

	resp, err = http.Get(admin.URL + "/monitor/api/rooms") // no token
	if err != nil {
		panic(err)
	}
	_ = resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// 200 0 rooms
	// 401
}
