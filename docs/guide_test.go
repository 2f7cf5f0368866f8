// Package docs holds the tests that keep docs/ in step with the code.
package docs

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "copy the starter's files into docs/guide.md's code blocks")

// guideBlock is a fenced code block of the guide: lines [start, end) hold
// its text; marker is the line before its opening fence.
type guideBlock struct {
	lang, marker string
	start, end   int
}

func guideBlocks(t *testing.T, lines []string) []guideBlock {
	t.Helper()
	var out []guideBlock
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		b := guideBlock{lang: lang, start: i + 1}
		if i > 0 {
			b.marker = lines[i-1]
		}
		for i++; i < len(lines) && lines[i] != "```"; i++ {
		}
		if i == len(lines) {
			t.Fatalf("docs/guide.md: a code block opened on line %d never closes", b.start)
		}
		b.end = i
		out = append(out, b)
	}
	return out
}

var (
	fileMarker = regexp.MustCompile(`^<!-- file: (\S+) -->$`)
	shMarker   = regexp.MustCompile(`^<!-- sh block of: (\S+) -->$`)
	makeLine   = regexp.MustCompile(`^make( [a-z-]+)+$`)
)

// TestGuide keeps every code block of docs/guide.md equal to the file of
// the starter it shows (the path in the comment above it), or to a README's
// sh block; the only other blocks allowed are `make` commands of the
// starter's Makefile targets. The files themselves are compiled and run by
// go test ./... and make -C web-client test. With -update, it copies the
// files into the guide instead.
func TestGuide(t *testing.T) {
	const guide = "guide.md"
	raw, err := os.ReadFile(guide)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	makefile, err := os.ReadFile("../examples/starter/Makefile")
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	blocks := guideBlocks(t, lines)
	for k := len(blocks) - 1; k >= 0; k-- { // backwards: updates keep earlier line numbers
		b := blocks[k]
		got := strings.Join(lines[b.start:b.end], "\n") + "\n"
		var want, from string
		if m := fileMarker.FindStringSubmatch(b.marker); m != nil {
			from = m[1]
			src, err := os.ReadFile(filepath.Join("..", from))
			if err != nil {
				t.Fatalf("docs/guide.md line %d: %v", b.start, err)
			}
			want = string(src)
			shown[from] = true
		} else if m := shMarker.FindStringSubmatch(b.marker); m != nil {
			from = m[1] + " (its sh block)"
			src, err := os.ReadFile(filepath.Join("..", m[1]))
			if err != nil {
				t.Fatal(err)
			}
			_, after, ok := strings.Cut(string(src), "```sh\n")
			sh, _, ok2 := strings.Cut(after, "```\n")
			if !ok || !ok2 {
				t.Fatalf("%s has no sh block", m[1])
			}
			want = sh
		} else {
			if b.lang != "sh" {
				t.Errorf("docs/guide.md line %d: a %q block with no <!-- file: ... --> comment above it", b.start, b.lang)
				continue
			}
			for _, l := range lines[b.start:b.end] {
				if !makeLine.MatchString(l) {
					t.Errorf("docs/guide.md line %d: %q: an unmarked sh block may only run make targets", b.start, l)
					continue
				}
				for _, target := range strings.Fields(l)[1:] {
					if !strings.Contains(string(makefile), "\n"+target+":") {
						t.Errorf("docs/guide.md line %d: make %s: no such target in examples/starter/Makefile", b.start, target)
					}
				}
			}
			continue
		}
		if got == want {
			continue
		}
		if *update {
			lines = append(lines[:b.start], append(strings.Split(strings.TrimSuffix(want, "\n"), "\n"), lines[b.end:]...)...)
			continue
		}
		t.Errorf("docs/guide.md line %d differs from %s: run go test ./docs -run TestGuide -update", b.start, from)
	}
	// Every source file of the starter is in the guide.
	for _, f := range []string{
		"proto/starter/v1/starter.proto", "buf.yaml", "buf.gen.yaml", "Makefile", "game/game.go", "game/game_test.go",
		"main.go", "main_test.go", "web/package.json", "web/tsconfig.json", "web/src/main.ts", "web/index.html", "web/build.mjs",
	} {
		if !shown["examples/starter/"+f] {
			t.Errorf("docs/guide.md does not show examples/starter/%s", f)
		}
	}
	if *update {
		if err := os.WriteFile(guide, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
