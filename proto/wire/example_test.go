package wire_test

import (
	"fmt"

	"github.com/tickwire/tickwire/proto/wire"
)

func Example() {
	frame := wire.AppendInput(nil, wire.Input{Seq: 42, AckTick: 1000, Payload: []byte{8, 1}})
	in, ok := wire.DecodeInput(frame)
	fmt.Println(ok, in.Seq, in.AckTick, in.Payload)

	if _, ok := wire.DecodeState(frame); !ok {
		fmt.Println("not a state frame: decode it with proto.Unmarshal")
	}
	// Output:
	// true 42 1000 [8 1]
	// not a state frame: decode it with proto.Unmarshal
}
