package ui

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestBudget(t *testing.T) {
	n, err := Weight()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n > Budget {
		t.Fatalf("embedded assets weigh %d bytes; the budget is %d (see the package doc)", n, Budget)
	}
	t.Logf("page weight: %d bytes of %d (%.0f%%)", n, Budget, 100*float64(n)/Budget)
}

// external matches anything that would make the page fetch from elsewhere:
// absolute URLs in src/href/url()/import/fetch, and @font-face/@import.
var external = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@font-face|@import|import\s*\(?\s*["'](https?:)?//|fetch\(\s*["'](https?:)?//`)

func TestNothingFromElsewhere(t *testing.T) {
	err := fs.WalkDir(FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(FS(), path)
		if err != nil {
			return err
		}
		if m := external.Find(b); m != nil {
			t.Errorf("%s loads from another origin: %q", path, m)
		}
		if strings.Contains(string(b), "innerHTML") || strings.Contains(string(b), "eval(") {
			t.Errorf("%s uses innerHTML or eval: the page writes text only", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTokenStaysInHeaders: the token is stored in sessionStorage and sent
// as an Authorization header; nothing puts it in a URL or localStorage.
func TestTokenStaysInHeaders(t *testing.T) {
	js, err := fs.ReadFile(FS(), "app.js")
	if err != nil {
		t.Fatal(err)
	}
	s := string(js)
	for _, want := range []string{"sessionStorage.setItem(TOKEN_KEY", "Authorization: `Bearer ${token()}`"} {
		if !strings.Contains(s, want) {
			t.Errorf("app.js lacks %q", want)
		}
	}
	for _, bad := range []string{"localStorage", "?token", "&token", "document.cookie"} {
		if strings.Contains(s, bad) {
			t.Errorf("app.js contains %q", bad)
		}
	}
}
