package compose

import (
	"os"
	"path/filepath"
)

// envFiles are the environment files a load reads, absolute, as compose
// records them on containers: the ones given, else dir's .env if present.
func envFiles(dir string, given []string) []string {
	if len(given) == 0 {
		def := filepath.Join(dir, ".env")
		if fi, err := os.Stat(def); err == nil && !fi.IsDir() {
			return []string{def}
		}
		return nil
	}
	out := make([]string, 0, len(given))
	for _, f := range given {
		if !filepath.IsAbs(f) {
			if abs, err := filepath.Abs(f); err == nil {
				f = abs
			}
		}
		out = append(out, f)
	}
	return out
}
