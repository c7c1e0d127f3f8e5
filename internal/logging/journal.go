package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/go-systemd/v22/journal"
)

// sendFunc is journal.Send; tests put a recorder in its place.
type sendFunc func(message string, priority journal.Priority, vars map[string]string) error

// journalHandler writes records with the journal's native protocol. Every
// attribute becomes a journal field (key upper-cased, groups joined with _),
// and MESSAGE carries the text form as well (`msg key=value ...`), because
// plain `journalctl -u hostagent` shows MESSAGE alone and a line like
// "service restarted" without its service is useless to an operator.
type journalHandler struct {
	level      slog.Leveler
	send       sendFunc
	identifier string
	fallback   io.Writer // where a record goes when the journal refuses it
	prefix     string    // open groups, "a.b."
	attrs      []field   // from WithAttrs, already prefixed
}

type field struct {
	key   string // dotted slog key, "req.method"
	value string
}

func newJournalHandler(level slog.Leveler, send sendFunc, identifier string, fallback io.Writer) *journalHandler {
	return &journalHandler{level: level, send: send, identifier: identifier, fallback: fallback}
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]field(nil), h.attrs...), flatten(h.prefix, as)...)
	return &c
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

func (h *journalHandler) Handle(_ context.Context, r slog.Record) error {
	fields := h.attrs
	if r.NumAttrs() > 0 {
		rec := make([]slog.Attr, 0, r.NumAttrs())
		r.Attrs(func(a slog.Attr) bool { rec = append(rec, a); return true })
		fields = append(append([]field(nil), h.attrs...), flatten(h.prefix, rec)...)
	}

	var msg strings.Builder
	msg.WriteString(r.Message)
	vars := make(map[string]string, len(fields)+5)
	for _, f := range fields {
		msg.WriteByte(' ')
		msg.WriteString(f.key)
		msg.WriteByte('=')
		msg.WriteString(quote(f.value))
		vars[fieldName(f.key)] = f.value
	}
	if h.identifier != "" {
		vars["SYSLOG_IDENTIFIER"] = h.identifier
	}
	if r.PC != 0 {
		frame, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		vars["CODE_FILE"] = frame.File
		vars["CODE_LINE"] = strconv.Itoa(frame.Line)
		vars["CODE_FUNC"] = frame.Function
	}

	err := h.send(msg.String(), priority(r.Level), vars)
	if err != nil && h.fallback != nil {
		// journald restarting or full: keep the line on stderr, which systemd
		// also collects, rather than lose it.
		_, _ = fmt.Fprintf(h.fallback, "level=%s msg=%s\n", r.Level, quote(msg.String()))
	}
	return err
}

// priority maps slog levels to syslog priorities; custom levels round down
// to the nearest named one.
func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}

// reserved are the fields this handler sets itself; an attribute with one of
// these names is kept as ATTR_<NAME> instead of overwriting it.
var reserved = map[string]bool{
	"MESSAGE": true, "PRIORITY": true, "SYSLOG_IDENTIFIER": true,
	"CODE_FILE": true, "CODE_LINE": true, "CODE_FUNC": true,
}

// fieldName turns a dotted slog key into a valid journal field name:
// upper-case letters, digits and _, not starting with _ or a digit, at most
// 64 bytes ("req.method" -> "REQ_METHOD", "http-status" -> "HTTP_STATUS").
func fieldName(key string) string {
	var b strings.Builder
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(unicode.ToUpper(r))
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := strings.TrimLeft(b.String(), "_")
	if name == "" || name[0] <= '9' || reserved[name] {
		name = "ATTR_" + name
	}
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

func flatten(prefix string, as []slog.Attr) []field {
	var out []field
	for _, a := range as {
		a.Value = a.Value.Resolve()
		if a.Equal(slog.Attr{}) {
			continue
		}
		if a.Value.Kind() == slog.KindGroup {
			p := prefix
			if a.Key != "" {
				p += a.Key + "."
			}
			out = append(out, flatten(p, a.Value.Group())...)
			continue
		}
		out = append(out, field{key: prefix + a.Key, value: valueString(a.Value)})
	}
	return out
}

func valueString(v slog.Value) string {
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindDuration:
		return v.Duration().String()
	}
	return v.String()
}

// quote quotes values the way slog's text handler does: only when they hold
// spaces, quotes, '=' or control characters, or are empty.
func quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '=' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
