// Command goldengen writes the delta golden vectors: for each case of
// internal/golden, NNN.base.bin and NNN.cur.bin (deterministic protobuf
// encodings of tickwire.testing.v1.TestState) and NNN.patch.bin (the patch
// netcode.Diff produces), plus index.txt naming the cases. Run through
// `go generate ./netcode/...`.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/netcode"
	"github.com/tickwire/tickwire/netcode/internal/golden"
)

func main() {
	out := flag.String("out", "testdata/golden", "output directory")
	flag.Parse()
	if err := run(*out); err != nil {
		slog.Error("goldengen failed", "err", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.bin"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	opts := proto.MarshalOptions{Deterministic: true}
	index := "# NNN name (files NNN.base.bin NNN.cur.bin NNN.patch.bin)\n"
	for i, c := range golden.Cases() {
		patch, err := netcode.Diff(c.Base, c.Cur)
		if err != nil {
			return fmt.Errorf("case %d %q: %w", i, c.Name, err)
		}
		base, err := opts.Marshal(c.Base)
		if err != nil {
			return err
		}
		cur, err := opts.Marshal(c.Cur)
		if err != nil {
			return err
		}
		for ext, b := range map[string][]byte{"base": base, "cur": cur, "patch": patch} {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.%s.bin", i, ext)), b, 0o644); err != nil {
				return err
			}
		}
		index += fmt.Sprintf("%03d %s\n", i, c.Name)
	}
	return os.WriteFile(filepath.Join(dir, "index.txt"), []byte(index), 0o644)
}
