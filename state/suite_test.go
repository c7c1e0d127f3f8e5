package state

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// opener opens (or, called again, reopens) the store of project over one
// backing — a directory, a redis-server — shared by the calls of a subtest.
// The store is closed at cleanup unless the test closed it.
type opener func(t *testing.T, project string) Store

// testStore is the semantic suite every Store passes. newBackend gives each
// subtest a fresh backing.
func testStore(t *testing.T, newBackend func(t *testing.T) opener) {
	t.Run("RoundTripAllFields", func(t *testing.T) {
		st := newBackend(t)(t, "proj")
		want := fullRecord("ai-llm")
		if err := st.Save(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wantRecords(t, got, want)
	})

	t.Run("Overwrite", func(t *testing.T) {
		st := newBackend(t)(t, "proj")
		first := fullRecord("redis")
		second := first
		second.FailureCount, second.RestartCount, second.Enabled = 9, 4, false
		second.DisabledReason = "exceeded 10 failures"
		second.UpdatedAt = first.UpdatedAt.Add(time.Second)
		for _, r := range []Record{first, second} {
			if err := st.Save(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wantRecords(t, got, second)
	})

	t.Run("Delete", func(t *testing.T) {
		st := newBackend(t)(t, "proj")
		a, b := fullRecord("a"), fullRecord("b")
		for _, r := range []Record{a, b} {
			if err := st.Save(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Delete(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(t.Context(), "never-saved"); err != nil {
			t.Fatalf("deleting a missing record: %v", err)
		}
		got, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wantRecords(t, got, b)
	})

	t.Run("ProjectsIsolated", func(t *testing.T) {
		open := newBackend(t)
		p1, p2 := open(t, "stack-one"), open(t, "stack-two")
		r1, r2 := fullRecord("backend"), fullRecord("backend")
		r2.FailureCount = 77
		if err := p1.Save(t.Context(), r1); err != nil {
			t.Fatal(err)
		}
		if err := p2.Save(t.Context(), r2); err != nil {
			t.Fatal(err)
		}
		only2 := fullRecord("frontend")
		if err := p2.Save(t.Context(), only2); err != nil {
			t.Fatal(err)
		}
		got1, err := p1.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wantRecords(t, got1, r1)
		if err := p1.Delete(t.Context(), "backend"); err != nil {
			t.Fatal(err)
		}
		got2, err := p2.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wantRecords(t, got2, r2, only2)
	})

	t.Run("ConcurrentSaves", func(t *testing.T) {
		st := newBackend(t)(t, "proj")
		const workers, each = 8, 5
		var wg sync.WaitGroup
		errs := make(chan error, workers*(each+1))
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					r := fullRecord(fmt.Sprintf("svc-%d-%d", w, i))
					r.RestartCount = w*100 + i
					errs <- st.Save(t.Context(), r)
				}
				// Everyone also writes the same service.
				shared := fullRecord("shared")
				shared.FailureCount = w
				errs <- st.Save(t.Context(), shared)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != workers*each+1 {
			t.Fatalf("got %d records, want %d", len(got), workers*each+1)
		}
		for w := range workers {
			for i := range each {
				name := fmt.Sprintf("svc-%d-%d", w, i)
				if got[name].RestartCount != w*100+i {
					t.Fatalf("%s: restart count %d, want %d", name, got[name].RestartCount, w*100+i)
				}
			}
		}
		if fc := got["shared"].FailureCount; fc < 0 || fc >= workers {
			t.Fatalf("shared: failure count %d is none of the written values", fc)
		}
	})

	t.Run("ReopenSeesSameData", func(t *testing.T) {
		open := newBackend(t)
		st := open(t, "proj")
		a, b := fullRecord("postgres"), fullRecord("ai-clip")
		b.Enabled = false
		for _, r := range []Record{a, b} {
			if err := st.Save(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		again := open(t, "proj")
		got, err := again.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wantRecords(t, got, a, b)
	})

	t.Run("ZeroValues", func(t *testing.T) {
		st := newBackend(t)(t, "proj")
		empty, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if empty == nil || len(empty) != 0 {
			t.Fatalf("Load of an empty store = %#v, want an empty non-nil map", empty)
		}
		zero := Record{Service: "bare"}
		if err := st.Save(t.Context(), zero); err != nil {
			t.Fatal(err)
		}
		got, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wantRecords(t, got, zero)
		for _, ts := range []time.Time{got["bare"].LastRestartAt, got["bare"].LastFailureAt, got["bare"].NextRestartAt, got["bare"].UpdatedAt} {
			if !ts.IsZero() {
				t.Fatalf("zero time came back as %v", ts)
			}
		}
	})

	t.Run("InvalidNames", func(t *testing.T) {
		st := newBackend(t)(t, "proj")
		for _, name := range []string{"", "a/b", "../etc", "has space", "colon:x", strings.Repeat("x", maxNameLen+1)} {
			if err := st.Save(t.Context(), Record{Service: name}); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Save(%q) = %v, want ErrInvalidName", name, err)
			}
			if err := st.Delete(t.Context(), name); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Delete(%q) = %v, want ErrInvalidName", name, err)
			}
		}
		got, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wantRecords(t, got)
	})

	t.Run("LoadReturnsACopy", func(t *testing.T) {
		st := newBackend(t)(t, "proj")
		r := fullRecord("x")
		if err := st.Save(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		got, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		delete(got, "x")
		got["y"] = Record{Service: "y"}
		again, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wantRecords(t, again, r)
	})
}

// fullRecord sets every field, with nanoseconds and a non-UTC zone so that a
// lossy encoding shows.
func fullRecord(service string) Record {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	base := time.Date(2025, 3, 14, 15, 9, 26, 535897932, zone)
	return Record{
		Service:        service,
		Enabled:        true,
		FailureCount:   3,
		RestartCount:   7,
		LastRestartAt:  base,
		LastFailureAt:  base.Add(-time.Second),
		NextRestartAt:  base.Add(20 * time.Second),
		DisabledReason: "manual",
		LearnedVRAM:    18 << 30,
		ContainerID:    "4f1c2a9e0b7d",
		UpdatedAt:      base.Add(time.Millisecond),
	}
}

// closeAtCleanup closes st when the test ends (a second Close must be harmless).
func closeAtCleanup(t *testing.T, st Store) Store {
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return st
}
