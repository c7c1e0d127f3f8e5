package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every file in testdata/errors is broken in one way a person makes; the
// messages (file:line:column, tabs named, "did you mean", no Go type
// names) are compared with testdata/errors/messages.golden.
func TestErrorMessagesGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	var got strings.Builder
	for _, f := range files {
		_, err := Load(context.Background(), Options{Files: []string{f}, Env: []string{}})
		if err == nil {
			t.Errorf("%s loaded without an error", f)
			continue
		}
		msg := err.Error()
		for _, bad := range []string{"json:", "main.", "types.", "struct", "false schema"} {
			if strings.Contains(msg, bad) {
				t.Errorf("%s: message shows internals (%q): %s", f, bad, msg)
			}
		}
		got.WriteString(msg + "\n")
	}
	golden := filepath.Join("testdata", "errors", "messages.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./compose -run TestErrorMessagesGolden -update)", err)
	}
	if got.String() != string(want) {
		t.Errorf("messages differ from %s (rerun with -update after checking):\ngot:\n%s\nwant:\n%s", golden, got.String(), want)
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"restart", "healthcheck", "depends_on", "image", "environment"}
	for word, want := range map[string]string{
		"restrat":    "restart",
		"helthcheck": "healthcheck",
		"depends-on": "depends_on",
		"imgae":      "image",
		"enviroment": "environment",
		"volumes":    "",
		"x":          "",
		"completely": "",
	} {
		if got := Suggest(word, keys); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", word, got, want)
		}
	}
}
