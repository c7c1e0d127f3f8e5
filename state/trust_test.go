package state

import (
	"math"
	"testing"
	"time"
)

func TestTrustedBoundsWhatAStoredRecordClaims(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	in := Record{
		Service: "ai-llm", FailureCount: -3, RestartCount: 7,
		NextRestartAt: now.Add(1000 * time.Hour),
		LearnedVRAM:   math.MaxUint64,
		UpdatedAt:     now.Add(24 * time.Hour),
	}
	got, notes := in.Trusted(now, 5*time.Minute)
	if !got.NextRestartAt.Equal(now.Add(5 * time.Minute)) {
		t.Errorf("NextRestartAt %v, want now + 5m", got.NextRestartAt)
	}
	if got.FailureCount != 0 || got.RestartCount != 7 {
		t.Errorf("counts %d/%d, want 0/7", got.FailureCount, got.RestartCount)
	}
	if got.LearnedVRAM != 0 {
		t.Errorf("LearnedVRAM %d, want 0 (unknown)", got.LearnedVRAM)
	}
	if !got.UpdatedAt.Equal(now) {
		t.Errorf("UpdatedAt %v, want now", got.UpdatedAt)
	}
	if len(notes) != 4 {
		t.Errorf("notes %q, want one per change", notes)
	}
	sane := Record{Service: "db", FailureCount: 2, NextRestartAt: now.Add(time.Minute), LearnedVRAM: 8 << 30, UpdatedAt: now}
	if got, notes := sane.Trusted(now, 5*time.Minute); got != sane || len(notes) != 0 {
		t.Errorf("a sane record changed: %+v %q", got, notes)
	}
}
