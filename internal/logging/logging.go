// Package logging chooses the agent's slog handler: the systemd journal's
// native protocol when the agent runs as a systemd service and the journal
// answers (priorities and structured fields survive, `journalctl -p warning`
// and `journalctl SERVICE=postgres` work), plain slog text on w otherwise
// (a terminal, a test, a container without journald).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
)

// New returns a logger at level ("debug", "info", "warn", "error"; an
// unknown level means info, and says so once in the log).
func New(level string, w io.Writer) *slog.Logger {
	lvl, err := ParseLevel(level)
	var h slog.Handler
	if underJournal() {
		h = newJournalHandler(lvl, journal.Send, filepath.Base(os.Args[0]), w)
	} else {
		h = slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})
	}
	log := slog.New(h)
	if err != nil {
		log.Warn("unknown log level, using info", "level", level)
	}
	return log
}

// ParseLevel maps ORCHESTRATOR_LOG_LEVEL / log_level to a slog level. It is
// case-insensitive and takes "warning" for "warn"; empty means info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
}

// underJournal is true when systemd connected stderr to the journal
// (JOURNAL_STREAM matches fd 2) and the native socket accepts datagrams. The
// first test keeps `hostagent status` in a terminal on text even on a host
// where journald runs.
func underJournal() bool {
	stream, err := journal.StderrIsJournalStream()
	if err != nil || !stream {
		return false
	}
	return journal.Enabled()
}
