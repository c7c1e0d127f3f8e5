package podmantest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Standin is a local image that plays a real service of a compose file
// under the name the file gives its image, so that the unmodified file
// runs without a registry: testsvc serving /health (and / answering
// "testsvc NAME") on Port, and the commands real images' health checks
// call (python -c "...httpx.get(URL)...", curl -f URL, wget --spider,
// pg_isready, redis-cli ping, redis-server) as scripts that ask the
// local testsvc, so a passing check means the service answers.
type Standin struct {
	// Image is the name to tag, e.g. "docker.io/library/postgres:16-alpine"
	// or compose's "<project>-<service>".
	Image string
	// Service is what testsvc calls itself (NAME).
	Service string
	// Port is where it listens (PORT).
	Port int
	// User is the image's USER ("" = root).
	User string
}

// standinScripts stand in for the real images' tools. Each one checks
// the local testsvc rather than exiting 0.
var standinScripts = map[string]string{
	// `python -c "import httpx; r = httpx.get('URL'); ..."`: fetch the URL.
	"python": `#!/bin/sh
url=$(printf '%s\n' "$*" | grep -o "https\?://[^'\" )]*" | head -n 1)
if [ -z "$url" ]; then echo "python stand-in: no URL in: $*" >&2; exit 2; fi
exec wget -q -O /dev/null "$url"
`,
	// `curl -f URL`: fetch the URL, failing on an HTTP error as -f does.
	"curl": `#!/bin/sh
for a in "$@"; do case "$a" in http://*|https://*) url=$a;; esac; done
if [ -z "$url" ]; then echo "curl stand-in: no URL in: $*" >&2; exit 2; fi
exec wget -q -O /dev/null "$url"
`,
	"pg_isready": `#!/bin/sh
if wget -q -O /dev/null http://127.0.0.1:5432/health; then echo "127.0.0.1:5432 - accepting connections"; exit 0; fi
echo "127.0.0.1:5432 - no response"; exit 2
`,
	"redis-cli": `#!/bin/sh
if wget -q -O /dev/null http://127.0.0.1:6379/health; then echo PONG; exit 0; fi
echo "Could not connect to Redis at 127.0.0.1:6379: Connection refused" >&2; exit 1
`,
	// The file's redis command runs `redis-server --appendonly ...` in sh.
	"redis-server": `#!/bin/sh
echo "redis-server stand-in (args: $*)"
PORT=6379 exec /bin/testsvc
`,
}

// EnsureStandins builds each stand-in unless an image built from the same
// inputs is stored under its name (see EnsureImages).
func (s *Service) EnsureStandins(ctx context.Context, standins []Standin) error {
	unlock, err := s.lockImages()
	if err != nil {
		return err
	}
	defer unlock()
	busybox, applets, svc, err := s.imageInputs(ctx)
	if err != nil {
		return err
	}
	files := []file{
		{path: "bin/busybox", data: busybox, mode: 0o755},
		{path: "bin/testsvc", data: svc, mode: 0o755},
	}
	for _, name := range []string{"curl", "pg_isready", "python", "redis-cli", "redis-server"} {
		files = append(files, file{path: "usr/local/bin/" + name, data: []byte(standinScripts[name]), mode: 0o755})
	}
	users := "app:x:1000:1000:app:/app:/bin/sh\n"
	root := rootfsUsers(files, applets, users, "app:x:1000:\n")
	for _, st := range standins {
		changes := []string{`CMD ["/bin/testsvc"]`,
			"ENV PATH=/usr/local/bin:/usr/bin:/bin",
			"ENV PORT=" + strconv.Itoa(st.Port), "ENV NAME=" + st.Service,
			"EXPOSE " + strconv.Itoa(st.Port)}
		if st.User != "" {
			changes = append(changes, "USER "+st.User)
		}
		if err := s.ensureImage(ctx, st.Image, root, changes); err != nil {
			return err
		}
	}
	return nil
}

// lockImages serialises image building across test binaries.
func (s *Service) lockImages() (func(), error) {
	lock, err := os.OpenFile(filepath.Join(s.Dir, "images.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, err
	}
	return func() { lock.Close() }, nil
}
