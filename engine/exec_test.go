package engine

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// execAPI answers the exec calls: a command that prints output and exits
// with code, or one that never ends (hang); createHang makes the engine
// too slow to create the exec at all.
type execAPI struct {
	*fakeAPI
	output     string
	code       int
	hang       bool
	createHang bool
}

func (f *execAPI) ContainerExecCreate(ctx context.Context, _ string, _ container.ExecOptions) (container.ExecCreateResponse, error) {
	if f.createHang {
		<-ctx.Done()
		return container.ExecCreateResponse{}, ctx.Err()
	}
	return container.ExecCreateResponse{ID: "exec1"}, nil
}

func (f *execAPI) ContainerExecAttach(context.Context, string, container.ExecAttachOptions) (types.HijackedResponse, error) {
	ours, theirs := net.Pipe()
	if !f.hang {
		go func() {
			_, _ = stdcopy.NewStdWriter(theirs, stdcopy.Stdout).Write([]byte(f.output))
			_ = theirs.Close()
		}()
	}
	return types.NewHijackedResponse(ours, ""), nil
}

func (f *execAPI) ContainerExecInspect(context.Context, string) (container.ExecInspect, error) {
	return container.ExecInspect{ExitCode: f.code}, nil
}

// The exec's deadline is its context's; without one, the call timeout.
func TestExecDeadlineIsTheContexts(t *testing.T) {
	cases := []struct {
		name    string
		api     execAPI
		ctx     func() (context.Context, context.CancelFunc)
		want    error // nil: exit code 3 and its output
		notWant error
	}{
		{"finishes in time", execAPI{output: "hi\n", code: 3}, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Second)
		}, nil, nil},
		{"started, not finished by the deadline", execAPI{hang: true}, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, ErrExecTimeout, ErrUnavailable},
		{"no deadline: the call timeout bounds it", execAPI{hang: true}, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, ErrExecTimeout, ErrUnavailable},
		{"cancelled is not a timeout", execAPI{hang: true}, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled, ErrExecTimeout},
		{"not started by the deadline: the engine is slow", execAPI{createHang: true}, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, ErrUnavailable, ErrExecTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := tc.api
			api.fakeAPI = &fakeAPI{}
			c := newClient(&api, Options{Host: "unix://" + filepath.Join(t.TempDir(), "sock"), CallTimeout: 200 * time.Millisecond})
			ctx, cancel := tc.ctx()
			defer cancel()
			began := time.Now()
			r, err := c.Exec(ctx, "c1", []string{"sh", "-c", "x"}, ExecOptions{})
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("returned after %s", took)
			}
			if tc.want == nil {
				if err != nil || r.ExitCode != 3 || string(r.Output) != "hi\n" {
					t.Errorf("Exec = %+v, %v; want exit 3, output hi", r, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || errors.Is(err, tc.notWant) {
				t.Errorf("Exec error = %v, want %v and not %v", err, tc.want, tc.notWant)
			}
		})
	}
}
