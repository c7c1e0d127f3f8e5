package state

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/redistest"
)

func redisBackend(t *testing.T) opener {
	srv := redistest.Start(t)
	return func(t *testing.T, project string) Store {
		r, err := NewRedis(srv.URL(), project, RedisOptions{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return closeAtCleanup(t, r)
	}
}

func TestRedisStore(t *testing.T) { testStore(t, redisBackend) }

func TestRedisKeysAreScopedByProject(t *testing.T) {
	srv := redistest.Start(t)
	r, err := NewRedis(srv.URL(), "nemotron", RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, r)
	if err := r.Save(t.Context(), fullRecord("ai-llm")); err != nil {
		t.Fatal(err)
	}
	raw, err := srv.Client(t).HGet(t.Context(), "hostagent:nemotron:services", "ai-llm").Result()
	if err != nil {
		t.Fatalf("record not at hostagent:nemotron:services/ai-llm: %v", err)
	}
	got, err := decodeRecord([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffRecord(got, fullRecord("ai-llm")); len(d) > 0 {
		t.Fatalf("stored record differs: %v", d)
	}
}

func TestRedisPublishReachesSubscriber(t *testing.T) {
	srv := redistest.Start(t)
	r, err := NewRedis(srv.URL(), "proj", RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, r)
	sub := srv.Client(t).Subscribe(t.Context(), EventsChannel("proj"))
	defer sub.Close()
	if _, err := sub.Receive(t.Context()); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	payload := []byte(`{"service":"ai-llm","status":"unhealthy"}`)
	if err := r.Publish(t.Context(), payload); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.ReceiveMessage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if msg.Channel != "hostagent:proj:events" || msg.Payload != string(payload) {
		t.Fatalf("received %q on %q", msg.Payload, msg.Channel)
	}
}

func TestRedisSkipsUnreadableEntries(t *testing.T) {
	srv := redistest.Start(t)
	sink, log := newLogSink()
	r, err := NewRedis(srv.URL(), "proj", RedisOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, r)
	good := fullRecord("postgres")
	if err := r.Save(t.Context(), good); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).HSet(t.Context(), ServicesKey("proj"), "broken", "{not json", "ai-llm", `{"version":1,"record":{"service":"other"}}`).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := r.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantRecords(t, got, good)
	if n := sink.count(slog.LevelError, "unreadable"); n != 2 {
		t.Fatalf("logged %d unreadable entries, want 2", n)
	}
}

func TestRedisPasswordURL(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	url := "redis://:s3cret@" + srv.Addr() + "/2"
	r, err := NewRedis(url, "proj", RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, r)
	if err := r.Save(t.Context(), fullRecord("redis")); err != nil {
		t.Fatalf("save with password from URL: %v", err)
	}
	wrong, err := NewRedis("redis://:nope@"+srv.Addr()+"/2", "proj", RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, wrong)
	if err := wrong.Ping(t.Context()); err == nil {
		t.Fatal("ping with a wrong password succeeded")
	}
}

func TestNewRedisURLErrorsHidePassword(t *testing.T) {
	for _, u := range []string{
		"redis://:hunter2@127.0.0.1:6379/notadb",
		"http://:hunter2@127.0.0.1:6379/0",
		"redis://:hunter2@127.0.0.1:6379/0\x7f",
		"unix:///run/redis.sock?db=x&password=hunter2",
	} {
		_, err := NewRedis(u, "proj", RedisOptions{})
		if err == nil {
			t.Errorf("NewRedis(%q) succeeded", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestRedisDownFailsWithinTimeout(t *testing.T) {
	r, err := NewRedis("redis://127.0.0.1:"+strconv.Itoa(redistest.FreePort(t))+"/0", "proj", RedisOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, r)
	start := time.Now()
	if err := r.Save(t.Context(), fullRecord("x")); err == nil {
		t.Fatal("save to a closed port succeeded")
	}
	if _, err := r.Load(t.Context()); err == nil {
		t.Fatal("load from a closed port succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("failing calls took %v", took)
	}
}
