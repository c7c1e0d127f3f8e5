package state

import (
	"fmt"
	"time"
)

// MaxLearnedVRAM bounds a stored VRAM figure: no GPU has more, and a
// larger number would only overflow the gate's arithmetic.
const MaxLearnedVRAM = 1 << 40 // 1 TiB

// ClockSkew is how far in the future a stored time may lie before it is
// taken for a wrong clock or a forged record.
const ClockSkew = time.Minute

// Trusted returns the record with what a stored copy may not claim
// bounded: a backoff deadline no later than now + maxWait (the longest the
// agent ever waits), no negative counts, a learned VRAM need no larger
// than MaxLearnedVRAM (else unknown), no UpdatedAt beyond now + ClockSkew.
// notes say what was changed, for the log.
func (r Record) Trusted(now time.Time, maxWait time.Duration) (Record, []string) {
	var notes []string
	if limit := now.Add(maxWait); r.NextRestartAt.After(limit) {
		notes = append(notes, fmt.Sprintf("next restart %s is beyond the longest backoff; now + %s instead", r.NextRestartAt.Format(time.RFC3339), maxWait))
		r.NextRestartAt = limit
	}
	if r.FailureCount < 0 || r.RestartCount < 0 {
		notes = append(notes, "negative counts set to 0")
		r.FailureCount, r.RestartCount = max(r.FailureCount, 0), max(r.RestartCount, 0)
	}
	if r.LearnedVRAM > MaxLearnedVRAM {
		notes = append(notes, fmt.Sprintf("learned VRAM %d bytes is not plausible; forgotten", r.LearnedVRAM))
		r.LearnedVRAM = 0
	}
	if r.UpdatedAt.After(now.Add(ClockSkew)) {
		notes = append(notes, "updated_at "+r.UpdatedAt.Format(time.RFC3339)+" lies in the future; taken as now")
		r.UpdatedAt = now
	}
	return r, notes
}
