// Command funclen fails when a runtime function is longer than a limit,
// counting from the func line to the closing brace, comments included.
// Runtime means every non-test Go file outside tools/ and
// internal/testsupport/; `make lint` runs it over the tracked files.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
)

func main() {
	limit := flag.Int("max", 60, "longest function allowed, in lines")
	flag.Parse()
	fset := token.NewFileSet()
	long := 0
	for _, path := range flag.Args() {
		if !runtimeFile(path) {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
			if n := end.Line - start.Line + 1; n > *limit {
				fmt.Printf("%s:%d: %s is %d lines (max %d)\n", path, start.Line, fn.Name.Name, n, *limit)
				long++
			}
		}
	}
	if long > 0 {
		os.Exit(1)
	}
}

func runtimeFile(path string) bool {
	return strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") &&
		!strings.HasPrefix(path, "tools/") && !strings.HasPrefix(path, "internal/testsupport/")
}
