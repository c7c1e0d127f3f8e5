package main

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// trustedFile is a file that decides what the agent runs as root: the
// compose files, the variables they read, the agent's own settings, and
// the token that unlocks the control API.
type trustedFile struct {
	path, what string
}

// trustedFiles lists them for cfg; envFile is the unit's EnvironmentFile.
func trustedFiles(cfg config, configFile, envFile string) []trustedFile {
	var out []trustedFile
	for _, f := range cfg.ComposeFiles {
		out = append(out, trustedFile{f, "compose file"})
	}
	envFiles := cfg.EnvFiles
	if len(envFiles) == 0 && len(cfg.ComposeFiles) > 0 {
		// compose reads .env from the project directory by default.
		dir := cfg.ProjectDirectory
		if dir == "" {
			dir = filepath.Dir(cfg.ComposeFiles[0])
		}
		envFiles = []string{filepath.Join(dir, ".env")}
	}
	for _, f := range envFiles {
		out = append(out, trustedFile{f, "env file"})
	}
	out = append(out, trustedFile{envFile, "service env file"}, trustedFile{configFile, "agent config file"},
		trustedFile{cfg.TokenFile, "token file"})
	return out
}

// warnUnsafeFiles logs one warning per file (or its directory) that someone
// other than root can change: whoever can edit a compose file can run a
// privileged container, and whoever can edit the token file holds the API.
// A missing file is skipped (compose.Load reports the ones it needs). It
// returns the number of warnings.
func warnUnsafeFiles(log *slog.Logger, files []trustedFile) int {
	n := 0
	seen := map[string]bool{}
	for _, f := range files {
		if f.path == "" || seen[f.path] {
			continue
		}
		seen[f.path] = true
		problem, fix := unsafeFile(f.path)
		if problem == "" {
			continue
		}
		n++
		log.Warn(fmt.Sprintf("%s %s can be changed by users other than root: whoever can edit it can run privileged containers", f.what, f.path),
			"file", f.path, "problem", problem, "fix", fix)
	}
	return n
}

// unsafeFile says what lets others change path (the file, or the directory
// that holds it, where it could be replaced) and the command that fixes it;
// "" when nothing does or path does not exist.
func unsafeFile(path string) (problem, fix string) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", ""
	}
	var problems, fixes []string
	if p, f := unsafeMode(path, fi); p != "" {
		problems, fixes = append(problems, p), append(fixes, f...)
	}
	dir := filepath.Dir(path)
	if di, err := os.Stat(dir); err == nil && di.Mode()&fs.ModeSticky == 0 {
		if p, f := unsafeMode(dir, di); p != "" {
			problems, fixes = append(problems, "its directory "+p), append(fixes, f...)
		}
	}
	if len(problems) == 0 {
		return "", ""
	}
	return strings.Join(problems, "; "), strings.Join(fixes, " && ")
}

func unsafeMode(path string, fi fs.FileInfo) (problem string, fixes []string) {
	var why []string
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != 0 && int(st.Uid) != os.Geteuid() {
		why = append(why, fmt.Sprintf("is owned by uid %d", st.Uid))
		fixes = append(fixes, "chown root "+path)
	}
	perm := fi.Mode().Perm()
	switch {
	case perm&0o022 == 0o022:
		why = append(why, fmt.Sprintf("is group- and world-writable (mode %04o)", perm))
	case perm&0o002 != 0:
		why = append(why, fmt.Sprintf("is world-writable (mode %04o)", perm))
	case perm&0o020 != 0:
		why = append(why, fmt.Sprintf("is group-writable (mode %04o)", perm))
	}
	if perm&0o022 != 0 {
		fixes = append(fixes, "chmod go-w "+path)
	}
	return strings.Join(why, " and "), fixes
}

// warnUnsafeStartFiles checks the files the agent starts from (run).
func warnUnsafeStartFiles(log *slog.Logger, cfg config, getenv func(string) string) {
	configFile := getenv("ORCHESTRATOR_CONFIG")
	if configFile == "" {
		configFile = defaultConfigFile
	}
	envFile := getenv("HOSTAGENT_ENV_FILE")
	if envFile == "" {
		envFile = serviceEnvFile
	}
	warnUnsafeFiles(log, trustedFiles(cfg, configFile, envFile))
}
