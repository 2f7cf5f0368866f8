// Package tickwiretest is Tickwire's test kit: a real node for integration
// tests, and a room harness for handler unit tests on a manual clock.
//
// A node on a free loopback port, stopped with the test:
//
//	n := tickwiretest.StartNode(t, engine.Config{}, map[string]*room.Definition{"arena": game.Arena()})
//	c, _ := client.Dial(ctx, n.URL, client.Options{Name: "ada"})
//
// A handler unit test: ticks run only when the test says so, inputs and
// messages go in typed, the state comes out typed.
//
//	h := tickwiretest.NewRoom[*arenav1.State, *arenav1.Input](t, game.Arena(), tickwiretest.RoomOptions{})
//	ada := h.Join("ada", nil)
//	h.Input(ada, &arenav1.Input{MoveX: 127})
//	h.Tick(1)
//	if h.State().Players[ada.ID].X == 0 { t.Fatal("ada did not move") }
package tickwiretest
