package supervisor

import ()

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func trimOutput(s string) string {
	const maxLen = 200
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
