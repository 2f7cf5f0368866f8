package netcode

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/netcode/internal/golden"
	"github.com/tickwire/tickwire/netcode/internal/testpb"
)

// TestGolden checks every vector in testdata/golden: Diff reproduces the
// patch byte for byte and Apply on base gives cur. It also checks the files
// match the generator's cases (run `go generate ./netcode/...` when not).
func TestGolden(t *testing.T) {
	cases := golden.Cases()
	files, _ := filepath.Glob("testdata/golden/*.patch.bin")
	if len(files) != len(cases) || len(cases) < 40 {
		t.Fatalf("%d golden patches on disk, %d cases: run go generate ./netcode/...", len(files), len(cases))
	}
	opts := proto.MarshalOptions{Deterministic: true}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%03d %s", i, c.Name), func(t *testing.T) {
			read := func(ext string) []byte {
				b, err := os.ReadFile(fmt.Sprintf("testdata/golden/%03d.%s.bin", i, ext))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			baseB, curB, patch := read("base"), read("cur"), read("patch")
			if want, _ := opts.Marshal(c.Base); !bytes.Equal(want, baseB) {
				t.Fatal("base file is stale")
			}
			base, cur := &testpb.TestState{}, &testpb.TestState{}
			if err := proto.Unmarshal(baseB, base); err != nil {
				t.Fatal(err)
			}
			if err := proto.Unmarshal(curB, cur); err != nil {
				t.Fatal(err)
			}
			got, err := Diff(base, cur)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, patch) {
				t.Fatalf("Diff = %x, golden %x", got, patch)
			}
			if err := Apply(base, patch); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(base, cur) {
				t.Fatalf("Apply gave %v, want %v", base, cur)
			}
		})
	}
}
