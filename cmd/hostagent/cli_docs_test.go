package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The manual and the completions are made from the commands themselves:
// every command and its flags appear, so they cannot drift.
func TestManAndCompletionsCoverEveryCommand(t *testing.T) {
	docs := commandDocs()
	var man bytes.Buffer
	writeMan(&man, docs, time.Unix(0, 0))
	for name := range commands {
		if !strings.Contains(man.String(), "\n.SS "+roff(name)) {
			t.Errorf("man page has no section for %s", name)
		}
	}
	for _, want := range []string{`\-\-reset\-failures`, `\-\-strict`, `\-\-project\-directory`, "/etc/hostagent/token"} {
		if !strings.Contains(man.String(), want) {
			t.Errorf("man page lacks %s", want)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out, errOut bytes.Buffer
		code := dispatch(t.Context(), &environment{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}, []string{"completion", shell})
		if code != 0 {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errOut.String())
		}
		for name := range commands {
			if !strings.Contains(out.String(), name) {
				t.Errorf("%s completion lacks %s", shell, name)
			}
		}
		if !strings.Contains(out.String(), "reset-failures") {
			t.Errorf("%s completion lacks restart's --reset-failures", shell)
		}
		if path, err := exec.LookPath(shell); err == nil {
			cmd := exec.Command(path, "-n")
			cmd.Stdin = &out
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s -n rejects its completion script: %v\n%s", shell, err, b)
			}
		}
	}
}
