package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hostagent/hostagent/internal/clock"
)

// DefaultDir is where the File store lives when ORCHESTRATOR_STATE_DIR is unset.
const DefaultDir = "/var/lib/hostagent"

const (
	recordSuffix = ".json"
	// tempInfix marks a file being written; a crash can leave one behind.
	tempInfix = ".json.tmp-"
	// corruptInfix marks a copy of an unreadable record, kept for an operator.
	corruptInfix = ".json.corrupt-"
)

// File keeps one JSON file per service in <dir>/<project>/<service>.json
// (format: {"version":1,"record":{...}}).
//
// Each file is replaced atomically (temp file in the same directory, fsync,
// rename, fsync of the directory), so a crash leaves either the old or the new
// record, plus at worst a temp file that Load ignores and the next NewFile
// removes. One file per service means a corrupt file costs only its own
// record: Load logs it, renames it to <service>.json.corrupt-<time> and
// returns the rest. One agent process owns a project directory.
type File struct {
	dir   string
	log   *slog.Logger
	clock clock.Clock
	// mu serialises writers with the quarantine in Load, so that Load never
	// renames away a file that a Save has just replaced.
	mu sync.Mutex
}

// NewFile opens (creating it if needed) the store of project under root.
// A nil logger discards, a nil clock is the wall clock (it only names
// quarantined files).
func NewFile(root, project string, log *slog.Logger, clk clock.Clock) (*File, error) {
	if err := validName(project); err != nil {
		return nil, fmt.Errorf("state: project: %w", err)
	}
	if root == "" {
		root = DefaultDir
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.New()
	}
	dir := filepath.Join(root, project)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state: create %s: %w", dir, err)
	}
	f := &File{dir: dir, log: log.With("store", "file", "dir", dir), clock: clk}
	if err := f.removeTemps(); err != nil {
		return nil, err
	}
	return f, nil
}

// Dir is the project directory holding the record files.
func (f *File) Dir() string { return f.dir }

func (f *File) path(service string) string { return filepath.Join(f.dir, service+recordSuffix) }

// removeTemps deletes what interrupted writes left behind.
func (f *File) removeTemps() error {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return fmt.Errorf("state: read %s: %w", f.dir, err)
	}
	for _, e := range entries {
		// A record file always ends in .json, even for a service named
		// "x.json.tmp-y"; a temp file never does.
		if !strings.Contains(e.Name(), tempInfix) || strings.HasSuffix(e.Name(), recordSuffix) {
			continue
		}
		p := filepath.Join(f.dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("state: remove stale temp file %s: %w", p, err)
		}
		f.log.Info("removed temp file of an interrupted write", "file", p)
	}
	return nil
}

// Load reads every record file. Unreadable files are reported in the log and
// quarantined; they never fail the whole Load.
func (f *File) Load(context.Context) (map[string]Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("state: read %s: %w", f.dir, err)
	}
	out := make(map[string]Record, len(entries))
	for _, e := range entries {
		service, ok := strings.CutSuffix(e.Name(), recordSuffix)
		if !ok || !e.Type().IsRegular() || validName(service) != nil {
			continue
		}
		r, err := f.read(service)
		switch {
		case err == nil:
			out[service] = r
		case errors.Is(err, fs.ErrNotExist):
			// Deleted between ReadDir and open.
		case errors.Is(err, errNewerFormat):
			f.log.Warn("skipping state record written by a newer agent", "service", service, "file", f.path(service), "err", err)
		default:
			f.quarantine(service, err)
		}
	}
	return out, nil
}

func (f *File) read(service string) (Record, error) {
	data, err := os.ReadFile(f.path(service))
	if err != nil {
		return Record{}, err
	}
	r, err := decodeRecord(data)
	if err != nil {
		return Record{}, err
	}
	if r.Service != service {
		return Record{}, fmt.Errorf("state: file holds service %q", r.Service)
	}
	return r, nil
}

// quarantine moves an unreadable record file aside so that an operator can
// look at it and the next Save writes a fresh one.
func (f *File) quarantine(service string, cause error) {
	src := f.path(service)
	dst := src[:len(src)-len(recordSuffix)] + corruptInfix + f.clock.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(src, dst); err != nil {
		f.log.Error("unreadable state record; could not move it aside", "service", service, "file", src, "err", cause, "rename_err", err)
		return
	}
	_ = syncDir(f.dir)
	f.log.Error("unreadable state record; kept a copy and continued without it", "service", service, "file", src, "copy", dst, "err", cause)
}

func (f *File) Save(_ context.Context, r Record) error {
	if err := validName(r.Service); err != nil {
		return err
	}
	data, err := encodeRecord(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return writeAtomic(f.dir, r.Service, data)
}

func (f *File) Delete(_ context.Context, service string) error {
	if err := validName(service); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.path(service)
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("state: delete %s: %w", p, err)
	}
	if err := syncDir(f.dir); err != nil {
		return fmt.Errorf("state: delete %s: %w", p, err)
	}
	return nil
}

// Close releases nothing: every call opens and closes its own files.
func (f *File) Close() error { return nil }

// writeAtomic replaces dir/<service>.json with data so that a crash at any
// point leaves the old or the new content, never a mix.
func writeAtomic(dir, service string, data []byte) (err error) {
	final := filepath.Join(dir, service+recordSuffix)
	tmp, err := os.CreateTemp(dir, service+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("state: save %s: %w", final, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			err = fmt.Errorf("state: save %s: %w", final, err)
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), final); err != nil {
		return err
	}
	// The rename is durable only once the directory entry is.
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
