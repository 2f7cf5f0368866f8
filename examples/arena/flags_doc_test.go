package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docs/deploy.md lists every flag the arena server defines (what
// `arena -h` shows).
func TestDeployDocListsEveryFlag(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "flag" {
			return true
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			name, err := strconv.Unquote(lit.Value)
			if err == nil {
				flags = append(flags, name)
			}
		}
		return true
	})
	if len(flags) < 10 {
		t.Fatalf("found only %d flags in main.go: %q", len(flags), flags)
	}
	doc, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range flags {
		if !strings.Contains(string(doc), "| `-"+name+"` |") {
			t.Errorf("docs/deploy.md does not list -%s in its flag table", name)
		}
	}
	for _, m := range docFlag.FindAllStringSubmatch(string(doc), -1) {
		if !slices.Contains(flags, m[1]) {
			t.Errorf("docs/deploy.md lists -%s, which the arena server does not define", m[1])
		}
	}
}

// docFlag matches a row of the flag table: | `-name` | ...
var docFlag = regexp.MustCompile("(?m)^\\| `-([a-z0-9-]+)` \\|")
