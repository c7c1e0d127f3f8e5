package main

import (
	"bytes"
	"sync"
	"testing"
)

func TestLinePrefixer(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	p := &linePrefixer{mu: &mu, w: &out, prefix: "db  | "}
	// Lines split across writes, a CRLF, an escape sequence and a partial
	// last line.
	for _, chunk := range []string{"ready to ", "accept\nsecond\r\n", "\x1b]0;pwned\x07title\n", "tail"} {
		if _, err := p.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	p.flush()
	want := "db  | ready to accept\ndb  | second\ndb  | \\x1b]0;pwned\\x07title\ndb  | tail\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestSanitizeLineKeepsText(t *testing.T) {
	for in, want := range map[string]string{
		"plain\ttext é ✓": "plain\ttext é ✓",
		"\x1b[31mred":     "\\x1b[31mred",
		"bell\x07":        "bell\\x07",
	} {
		if got := sanitizeLine(in); got != want {
			t.Errorf("sanitizeLine(%q) = %q, want %q", in, got, want)
		}
	}
}
