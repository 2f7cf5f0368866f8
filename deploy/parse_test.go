package deploy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A small reader for nginx configuration files: enough structure (directives,
// arguments, blocks) to check what the load balancer does without relying on
// substring matches that a comment would satisfy.

// ngxDirective is one nginx directive; Block holds the directives inside its
// braces (nil for a simple directive ended by ';').
type ngxDirective struct {
	Name  string
	Args  []string
	Block []*ngxDirective
	Line  int
}

// parseNginx parses an nginx configuration. It understands comments, single
// and double quotes with backslash escapes, blocks and semicolons; it does not
// expand include directives.
func parseNginx(src string) ([]*ngxDirective, error) {
	type tok struct {
		s      string
		quoted bool
		line   int
	}
	var toks []tok
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '{' || c == '}' || c == ';':
			toks = append(toks, tok{s: string(c), line: line})
			i++
		case c == '"' || c == '\'':
			q, start := c, line
			var b strings.Builder
			i++
			for ; i < len(src) && src[i] != q; i++ {
				if src[i] == '\\' && i+1 < len(src) {
					i++
				}
				if src[i] == '\n' {
					line++
				}
				b.WriteByte(src[i])
			}
			if i >= len(src) {
				return nil, fmt.Errorf("line %d: %w: unterminated quote", start, errNginxSyntax)
			}
			i++
			toks = append(toks, tok{s: b.String(), quoted: true, line: start})
		default:
			start := i
			for i < len(src) && !strings.ContainsRune(" \t\r\n{};#\"'", rune(src[i])) {
				i++
			}
			toks = append(toks, tok{s: src[start:i], line: line})
		}
	}
	pos := 0
	var block func(depth int) ([]*ngxDirective, error)
	block = func(depth int) ([]*ngxDirective, error) {
		var out []*ngxDirective
		for pos < len(toks) {
			t := toks[pos]
			if !t.quoted && t.s == "}" {
				if depth == 0 {
					return nil, fmt.Errorf("line %d: %w: unexpected }", t.line, errNginxSyntax)
				}
				pos++
				return out, nil
			}
			if !t.quoted && (t.s == "{" || t.s == ";") {
				return nil, fmt.Errorf("line %d: %w: unexpected %s", t.line, errNginxSyntax, t.s)
			}
			d := &ngxDirective{Name: t.s, Line: t.line}
			pos++
			for {
				if pos >= len(toks) {
					return nil, fmt.Errorf("line %d: %w: directive %q not terminated", d.Line, errNginxSyntax, d.Name)
				}
				a := toks[pos]
				pos++
				if !a.quoted && a.s == ";" {
					break
				}
				if !a.quoted && a.s == "{" {
					sub, err := block(depth + 1)
					if err != nil {
						return nil, err
					}
					d.Block = sub
					if d.Block == nil {
						d.Block = []*ngxDirective{}
					}
					break
				}
				if !a.quoted && a.s == "}" {
					return nil, fmt.Errorf("line %d: %w: directive %q not terminated", d.Line, errNginxSyntax, d.Name)
				}
				d.Args = append(d.Args, a.s)
			}
			out = append(out, d)
		}
		if depth > 0 {
			return nil, fmt.Errorf("%w: missing }", errNginxSyntax)
		}
		return out, nil
	}
	return block(0)
}

// ngxWalk calls fn for every directive, with its enclosing directives
// (outermost first).
func ngxWalk(ds []*ngxDirective, parents []*ngxDirective, fn func(d *ngxDirective, parents []*ngxDirective)) {
	for _, d := range ds {
		fn(d, parents)
		if d.Block != nil {
			ngxWalk(d.Block, append(parents[:len(parents):len(parents)], d), fn)
		}
	}
}

// ngxDuration parses an nginx time value ("90", "90s", "1h", "1h 30m",
// "500ms"); a bare number is seconds.
func ngxDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		d      time.Duration
	}{
		{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute},
		{"h", time.Hour}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour},
	}
	var total time.Duration
	for _, part := range strings.Fields(s) {
		for part != "" {
			n := 0
			for n < len(part) && part[n] >= '0' && part[n] <= '9' {
				n++
			}
			if n == 0 {
				return 0, fmt.Errorf("%w: %q", errNginxDuration, s)
			}
			v, err := strconv.Atoi(part[:n])
			if err != nil {
				return 0, fmt.Errorf("%w: %q: %w", errNginxDuration, s, err)
			}
			part = part[n:]
			unit := time.Second
			if part != "" {
				matched := false
				for _, u := range units {
					if strings.HasPrefix(part, u.suffix) {
						unit, part, matched = u.d, part[len(u.suffix):], true
						break
					}
				}
				if !matched {
					return 0, fmt.Errorf("%w: %q", errNginxDuration, s)
				}
			}
			total += time.Duration(v) * unit
		}
	}
	if total == 0 && strings.TrimSpace(s) != "0" {
		return 0, fmt.Errorf("%w: %q", errNginxDuration, s)
	}
	return total, nil
}

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct {
	Cmd  string // upper case: FROM, RUN, USER, ...
	Args string
	Line int
}

// dockerStage is one build stage: its FROM and the instructions after it.
type dockerStage struct {
	Image  string
	Name   string
	Instrs []dockerInstr
}

// parseDockerfile splits a Dockerfile into stages. It handles comments,
// parser directives, backslash continuations and heredoc-free instructions;
// the default escape character only.
func parseDockerfile(src string) ([]*dockerStage, error) {
	var instrs []dockerInstr
	var cur strings.Builder
	start := 0
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // comment lines inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(strings.TrimRight(l, " \t\r"), "\\"); ok {
			cur.WriteString(cont)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(l)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		instrs = append(instrs, dockerInstr{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: %w: continuation at end of file", start, errDockerfileSyntax)
	}
	var stages []*dockerStage
	for _, in := range instrs {
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			var rest []string
			for _, a := range f {
				if !strings.HasPrefix(a, "--") { // --platform=...
					rest = append(rest, a)
				}
			}
			if len(rest) == 0 {
				return nil, fmt.Errorf("line %d: %w: FROM without an image", in.Line, errDockerfileSyntax)
			}
			st := &dockerStage{Image: rest[0]}
			if len(rest) == 3 && strings.EqualFold(rest[1], "AS") {
				st.Name = rest[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.Cmd == "ARG" {
				continue // global ARGs before the first FROM
			}
			return nil, fmt.Errorf("line %d: %w: %s before FROM", in.Line, errDockerfileSyntax, in.Cmd)
		}
		st := stages[len(stages)-1]
		st.Instrs = append(st.Instrs, in)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%w: no FROM", errDockerfileSyntax)
	}
	return stages, nil
}

// imagePinned reports whether an image reference names an explicit tag other
// than latest, or a digest. References with variables are not pinned: what
// they resolve to depends on the environment.
func imagePinned(ref string) bool {
	if ref == "" || strings.ContainsAny(ref, "${}") {
		return false
	}
	if _, digest, ok := strings.Cut(ref, "@"); ok {
		return strings.HasPrefix(digest, "sha256:") && len(digest) == len("sha256:")+64
	}
	lastSlash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= lastSlash { // no tag (a colon before the last slash is a registry port)
		return false
	}
	tag := ref[colon+1:]
	return tag != "" && tag != "latest"
}

// imageRepo returns the last path element of an image reference without tag
// or digest: "redis" for "docker.io/library/redis:7.4-alpine".
func imageRepo(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	ref, _, _ = strings.Cut(ref, ":")
	return ref
}
