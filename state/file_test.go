package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/clock"
)

func fileBackend(t *testing.T) opener {
	root := t.TempDir()
	return func(t *testing.T, project string) Store {
		f, err := NewFile(root, project, nil, clock.NewFake(time.Unix(0, 0)))
		if err != nil {
			t.Fatal(err)
		}
		return closeAtCleanup(t, f)
	}
}

func TestFileStore(t *testing.T) { testStore(t, fileBackend) }

func newTestFile(t *testing.T, root string) (*File, *logSink) {
	t.Helper()
	sink, log := newLogSink()
	f, err := NewFile(root, "proj", log, clock.NewFake(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	return f, sink
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestFileLayoutAndFormat(t *testing.T) {
	root := t.TempDir()
	f, _ := newTestFile(t, root)
	r := fullRecord("ai-llm")
	if err := f.Save(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if f.Dir() != filepath.Join(root, "proj") {
		t.Fatalf("Dir() = %s", f.Dir())
	}
	data, err := os.ReadFile(filepath.Join(root, "proj", "ai-llm.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Version int    `json:"version"`
		Record  Record `json:"record"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatalf("file is not the documented JSON: %v\n%s", err, data)
	}
	if env.Version != 1 {
		t.Fatalf("version = %d, want 1", env.Version)
	}
	if d := diffRecord(env.Record, r); len(d) > 0 {
		t.Fatalf("record in file differs: %v", d)
	}
	if !bytes.Contains(data, []byte(`"learned_vram_bytes":19327352832`)) {
		t.Fatalf("field names are part of the format; got %s", data)
	}
}

func TestFileAtomicWritesLeaveNoTempFiles(t *testing.T) {
	root := t.TempDir()
	f, _ := newTestFile(t, root)
	for i := range 20 {
		r := fullRecord(fmt.Sprintf("s%d", i%3))
		r.RestartCount = i
		if err := f.Save(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Delete(t.Context(), "s2"); err != nil {
		t.Fatal(err)
	}
	got := dirNames(t, f.Dir())
	if want := []string{"s0.json", "s1.json"}; !slices.Equal(got, want) {
		t.Fatalf("directory holds %v, want %v", got, want)
	}
}

func TestFileIgnoresAndRemovesLeftoverTempFiles(t *testing.T) {
	root := t.TempDir()
	f, _ := newTestFile(t, root)
	good := fullRecord("redis")
	if err := f.Save(t.Context(), good); err != nil {
		t.Fatal(err)
	}
	// A crash between write and rename leaves a temp file, possibly half
	// written, next to the previous version.
	half := []byte(`{"version":1,"record":{"service":"redis","failure_c`)
	// A service whose name looks like a temp file is still a record.
	odd := Record{Service: "x.json.tmp-1"}
	if err := f.Save(t.Context(), odd); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"redis.json.tmp-123", "ai-new.json.tmp-456"} {
		if err := os.WriteFile(filepath.Join(f.Dir(), name), half, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantRecords(t, got, good, odd)

	again, sink := newTestFile(t, root)
	if names := dirNames(t, again.Dir()); !slices.Equal(names, []string{"redis.json", "x.json.tmp-1.json"}) {
		t.Fatalf("after reopen the directory holds %v, want only the two records", names)
	}
	if n := sink.count(slog.LevelInfo, "temp file"); n != 2 {
		t.Fatalf("logged %d temp file removals, want 2", n)
	}
}

func TestFileCorruptRecordsAreQuarantined(t *testing.T) {
	root := t.TempDir()
	f, sink := newTestFile(t, root)
	recs := map[string]Record{}
	for _, name := range []string{"postgres", "truncated", "empty", "garbage", "wrong-owner", "no-version"} {
		recs[name] = fullRecord(name)
		if err := f.Save(t.Context(), recs[name]); err != nil {
			t.Fatal(err)
		}
	}
	path := func(s string) string { return filepath.Join(f.Dir(), s+".json") }
	whole, err := os.ReadFile(path("truncated"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := encodeRecord(fullRecord("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"truncated":   whole[:len(whole)/2],
		"empty":       {},
		"garbage":     []byte("\x00\xff not json"),
		"wrong-owner": other,
		"no-version":  []byte(`{"record":{"service":"no-version"}}`),
	}
	for name, data := range bad {
		if err := os.WriteFile(path(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	got, err := f.Load(t.Context())
	if err != nil {
		t.Fatalf("Load with corrupt files failed: %v", err)
	}
	wantRecords(t, got, recs["postgres"])
	if n := sink.count(slog.LevelError, "unreadable state record"); n != len(bad) {
		t.Fatalf("logged %d unreadable records, want %d", n, len(bad))
	}
	for name, data := range bad {
		copyPath := filepath.Join(f.Dir(), name+".json.corrupt-20250102T030405.000000000Z")
		kept, err := os.ReadFile(copyPath)
		if err != nil {
			t.Fatalf("no copy of the bad %s file: %v", name, err)
		}
		if !bytes.Equal(kept, data) {
			t.Fatalf("copy of %s = %q, want the original %q", name, kept, data)
		}
	}

	// The bad files are out of the way: a second Load is quiet, and a
	// Save brings the record back.
	if _, err := f.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := sink.count(slog.LevelError, "unreadable state record"); n != len(bad) {
		t.Fatalf("second Load reported again (%d)", n)
	}
	if err := f.Save(t.Context(), recs["truncated"]); err != nil {
		t.Fatal(err)
	}
	got, err = f.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantRecords(t, got, recs["postgres"], recs["truncated"])
}

func TestFileSkipsNewerFormatWithoutMovingIt(t *testing.T) {
	root := t.TempDir()
	f, sink := newTestFile(t, root)
	future := []byte(`{"version":2,"record":{"service":"ai-llm","shape":"new"}}`)
	p := filepath.Join(f.Dir(), "ai-llm.json")
	if err := os.WriteFile(p, future, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := f.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantRecords(t, got)
	if n := sink.count(slog.LevelWarn, "newer agent"); n != 1 {
		t.Fatalf("logged %d newer-format warnings, want 1", n)
	}
	if kept, err := os.ReadFile(p); err != nil || !bytes.Equal(kept, future) {
		t.Fatalf("newer-format file was touched: %q, %v", kept, err)
	}
}

func TestFileIgnoresForeignFiles(t *testing.T) {
	root := t.TempDir()
	f, _ := newTestFile(t, root)
	for _, name := range []string{"README", "notes.txt", "bad name.json"} {
		if err := os.WriteFile(filepath.Join(f.Dir(), name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(f.Dir(), "sub.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := f.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantRecords(t, got)
	if names := dirNames(t, f.Dir()); len(names) != 4 {
		t.Fatalf("foreign files were moved or removed: %v", names)
	}
}

func TestNewFileRejectsBadProject(t *testing.T) {
	for _, p := range []string{"", "../up", "a/b"} {
		if _, err := NewFile(t.TempDir(), p, nil, nil); err == nil {
			t.Errorf("NewFile(project %q) succeeded", p)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	good, err := encodeRecord(fullRecord("ai-llm"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"version":2,"record":{}}`))
	f.Add([]byte(`{"version":1,"record":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			return
		}
		if validName(r.Service) != nil {
			t.Fatalf("decoded a record with invalid name %q", r.Service)
		}
		again, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeRecord(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if !sameRecord(back, r) {
			t.Fatalf("round trip changed %+v into %+v", r, back)
		}
	})
}
