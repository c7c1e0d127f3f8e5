package state

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/redistest"

	"github.com/hostagent/hostagent/internal/clock"
)

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{EnvStateDir: "/srv/state", EnvRedisURL: "redis://127.0.0.1:6379/1"}
	got := ConfigFromEnv("nemotron", func(k string) string { return env[k] })
	if got.Dir != "/srv/state" || got.RedisURL != "redis://127.0.0.1:6379/1" || got.Project != "nemotron" {
		t.Fatalf("got %+v", got)
	}
	if d := ConfigFromEnv("p", func(string) string { return "" }); d.Dir != DefaultDir || d.RedisURL != "" {
		t.Fatalf("defaults: got %+v", d)
	}
}

func TestOpenWithoutRedisIsAFileStore(t *testing.T) {
	st, err := Open(t.Context(), Config{Dir: t.TempDir(), Project: "proj"})
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, st)
	if _, ok := st.(*File); !ok {
		t.Fatalf("Open without a Redis URL gave %T, want *File", st)
	}
	if _, ok := st.(Publisher); ok {
		t.Fatal("a file-only store claims to publish")
	}
}

func TestOpenWithUnreachableRedis(t *testing.T) {
	url := "redis://127.0.0.1:" + strconv.Itoa(redistest.FreePort(t)) + "/0"
	start := time.Now()
	st, err := Open(t.Context(), Config{Dir: t.TempDir(), RedisURL: url, Project: "proj",
		Clock: clock.NewFake(epoch), RedisTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("an unreachable redis failed Open: %v", err)
	}
	closeAtCleanup(t, st)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Open took %v", took)
	}
	res, ok := st.(*Resilient)
	if !ok {
		t.Fatalf("Open with a Redis URL gave %T, want *Resilient", st)
	}
	if res.Connected() {
		t.Fatal("connected to nothing")
	}
	r := fullRecord("postgres")
	if err := st.Save(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	wantRecords(t, loadOf(t, st), r)
}

func TestOpenRejectsBadConfig(t *testing.T) {
	if _, err := Open(t.Context(), Config{Dir: t.TempDir(), Project: "../x"}); err == nil {
		t.Error("a bad project name opened")
	}
	_, err := Open(t.Context(), Config{Dir: t.TempDir(), Project: "p", RedisURL: "memcache://:pw@host/0"})
	if err == nil || strings.Contains(err.Error(), ":pw@") {
		t.Errorf("bad redis URL: err = %v", err)
	}
}
