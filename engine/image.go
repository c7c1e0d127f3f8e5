package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/image"

	"github.com/hostagent/hostagent/compose"
)

// imageStall is how long a pull or build may go without a progress
// message before it is given up: a multi-gigabyte pull may take an hour,
// but one that says nothing for this long is hung.
var imageStall = 5 * time.Minute

// progressEvery throttles progress lines in the log and the status.
const progressEvery = 2 * time.Second

// Progress receives short human lines about a pull or build ("pulling
// image X: ..."); nil discards them.
type Progress func(line string)

// ImageName is the image compose runs for a service: its `image:`, else
// `<project>-<service>` (compose v2's name for a built image).
func ImageName(project string, svc compose.Service) string {
	if svc.Config.Image != "" {
		return svc.Config.Image
	}
	if svc.Image != "" {
		return svc.Image
	}
	return project + "-" + svc.Name
}

// podmanComposeName is the name podman-compose gives a built image.
func podmanComposeName(project string, svc compose.Service) string {
	return project + "_" + svc.Name
}

// pullPolicy is the service's pull_policy as compose reads it: missing by
// default, if_not_present the same, daily/weekly/every_<d> a refresh
// after that age.
func pullPolicy(svc compose.Service) (string, time.Duration, error) {
	p, every, err := svc.Config.GetPullPolicy()
	if err != nil {
		return "", 0, fmt.Errorf("service %s: %w (use missing, always, never, build, daily, weekly or every_<duration>)", svc.Name, err)
	}
	if p == types.PullPolicyIfNotPresent {
		p = types.PullPolicyMissing
	}
	if p == types.PullPolicyBuild && svc.Config.Build == nil {
		// Nothing to build: compose would then create from what exists.
		p = types.PullPolicyMissing
	}
	return p, every, nil
}

// EnsureImage makes sure the service's image exists before its container
// is created, following its pull_policy as compose does: present images
// are used (missing, the default), pulled anew (always, or a refresh
// window that has passed), never pulled (never), or built every time
// (build). A missing image is built when the service has `build:`, else
// pulled. An image podman-compose built (`<project>_<service>`) counts as
// present: it is tagged with compose's name instead of being rebuilt.
//
// Where a refresh pull fails but the image is present, the local one is
// used with a warning: a host that lost its registry keeps running.
//
// An image that can be neither found, pulled nor built is an error
// wrapping ErrImageUnavailable that names the image and the registry's
// (or builder's) answer; an unreachable engine is ErrUnavailable.
func (c *Client) EnsureImage(ctx context.Context, st *compose.Stack, service string, progress Progress) error {
	svc, ok := st.Service(service)
	if !ok {
		return fmt.Errorf("image of %s: no such service in project %s", service, st.Name)
	}
	ref := ImageName(st.Name, *svc)
	policy, every, err := pullPolicy(*svc)
	if err != nil {
		return err
	}
	info, present, err := c.inspectImage(ctx, ref)
	if err != nil {
		return err
	}
	log := c.log.With("service", service, "image", ref)
	hasBuild := svc.Config.Build != nil
	// A build-only service's image is nowhere to pull from (compose
	// skips it too).
	pullable := svc.Config.Image != "" || !hasBuild
	switch {
	case policy == types.PullPolicyBuild:
		return c.buildImage(ctx, st, *svc, ref, progress)
	case pullable && (policy == types.PullPolicyAlways || policy == types.PullPolicyRefresh && present && stale(info, every, c.clock.Now())):
		err := c.pullImage(ctx, service, ref, svc.Config.Platform, progress)
		switch {
		case err == nil || errors.Is(err, ErrUnavailable) || ctx.Err() != nil:
			return err
		case present:
			log.Warn("Image pull failed; using the local image", "pull_policy", svc.Config.PullPolicy, "err", err)
			return nil
		case hasBuild:
			log.Warn("Image pull failed; building it", "err", err)
			return c.buildImage(ctx, st, *svc, ref, progress)
		}
		return err
	case present:
		return nil
	case policy == types.PullPolicyNever:
		return fmt.Errorf("%w: %s: not present and pull_policy is never (build or load it on this host)", ErrImageUnavailable, ref)
	}
	if svc.Config.Image == "" {
		if found, err := c.adoptPodmanComposeImage(ctx, st.Name, *svc, ref); found || err != nil {
			return err
		}
	}
	if hasBuild {
		return c.buildImage(ctx, st, *svc, ref, progress)
	}
	return c.pullImage(ctx, service, ref, svc.Config.Platform, progress)
}

// stale: a refresh policy's window has passed since the image was tagged
// (or created, where the engine keeps no tag time).
func stale(info image.InspectResponse, every time.Duration, now time.Time) bool {
	t := info.Metadata.LastTagTime
	if t.IsZero() {
		t, _ = time.Parse(time.RFC3339Nano, info.Created)
	}
	return t.IsZero() || now.Sub(t) >= every
}

// inspectImage reports whether ref exists locally; err only when the
// engine could not say.
func (c *Client) inspectImage(ctx context.Context, ref string) (image.InspectResponse, bool, error) {
	var info image.InspectResponse
	err := c.do(ctx, "inspect image "+ref, c.opts.CallTimeout, func(ctx context.Context) error {
		var err error
		info, err = c.api.ImageInspect(ctx, ref)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return info, false, nil
	}
	return info, err == nil, err
}

// adoptPodmanComposeImage tags an image podman-compose built for the
// service with compose's name, so that a stack built with podman-compose
// is not rebuilt.
func (c *Client) adoptPodmanComposeImage(ctx context.Context, project string, svc compose.Service, ref string) (bool, error) {
	alt := podmanComposeName(project, svc)
	_, found, err := c.inspectImage(ctx, alt)
	if err != nil || !found {
		return false, err
	}
	err = c.do(ctx, "tag image "+alt+" as "+ref, c.opts.CallTimeout, func(ctx context.Context) error {
		return c.api.ImageTag(ctx, alt, ref)
	})
	if err != nil {
		return true, err
	}
	c.log.Info("Using the image podman-compose built", "service", svc.Name, "image", alt, "tagged", ref)
	return true, nil
}

// pullImage pulls ref, reporting progress. The registry's refusal (in the
// response or in the stream) is ErrImageUnavailable.
func (c *Client) pullImage(ctx context.Context, service, ref, platform string, progress Progress) error {
	pr := c.newProgress(service, "pulling", ref, progress)
	pr.note("", true)
	ctx, stop := c.stallGuard(ctx)
	defer stop(nil)
	// The stream outlives the call timeout: ctx and the stall guard bound
	// it instead.
	body, err := c.api.ImagePull(ctx, ref, image.PullOptions{Platform: platform})
	err = c.noted(ctx, "pull image "+ref, err)
	if err != nil {
		if errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: %s: %s", ErrImageUnavailable, ref, answer(err))
	}
	defer body.Close()
	err = readStream(body, stop, func(m streamMsg) {
		pr.note(pullLine(m), false)
	})
	if err != nil {
		return c.streamErr(ctx, "pull", ref, err)
	}
	if _, found, err := c.inspectImage(ctx, ref); err != nil || !found {
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s: the pull ended but the image is not there", ErrImageUnavailable, ref)
	}
	pr.done("pulled image " + ref)
	return nil
}

// streamErr turns a failed pull or build stream into the error to report.
func (c *Client) streamErr(ctx context.Context, verb, ref string, err error) error {
	var jerr *streamError
	switch {
	case errors.As(err, &jerr):
		return fmt.Errorf("%w: %s: %s", ErrImageUnavailable, ref, strings.TrimSpace(jerr.Message))
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), errStalled):
		return fmt.Errorf("%w: %s: %s stalled: no progress for %s", ErrImageUnavailable, ref, verb, imageStall)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	// The connection broke mid-stream: the engine went away.
	return fmt.Errorf("%s image %s: %w: %w", verb, ref, ErrUnavailable, err)
}

// noted classifies the error of a call made without the call timeout
// (pulls, builds) and tracks reachability.
func (c *Client) noted(ctx context.Context, op string, err error) error {
	err = classify(ctx, op, err)
	c.note(ctx, err, true)
	return err
}

// answer is the engine's (registry's) own words from an API error.
func answer(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "Error response from daemon: "); i >= 0 {
		s = s[i+len("Error response from daemon: "):]
	}
	return strings.TrimSpace(s)
}

func pullLine(m streamMsg) string {
	parts := []string{}
	if m.ID != "" {
		parts = append(parts, m.ID)
	}
	if m.Status != "" {
		parts = append(parts, m.Status)
	}
	if p := m.Progress; p != nil && p.Total > 0 {
		parts = append(parts, fmt.Sprintf("%d%%", p.Current*100/p.Total))
	}
	return strings.Join(parts, " ")
}

// streamMsg is one message of a pull or build stream (the engine's
// JSON progress messages; only what the agent reads).
type streamMsg struct {
	Stream   string `json:"stream"`
	Status   string `json:"status"`
	ID       string `json:"id"`
	Progress *struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	Error        *streamError `json:"errorDetail"`
	ErrorMessage string       `json:"error"`
}

// streamError is the error a stream ended with: the registry's or the
// builder's words.
type streamError struct {
	Message string `json:"message"`
}

func (e *streamError) Error() string { return e.Message }

// readStream decodes a pull or build stream, calling each for every
// message and tick on every message (the stall guard); a message carrying
// an error ends it with a *streamError.
func readStream(r io.Reader, tick func(error), each func(streamMsg)) error {
	dec := json.NewDecoder(r)
	for {
		var m streamMsg
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		tick(errTick)
		if m.Error != nil && m.Error.Message != "" {
			return m.Error
		}
		if m.ErrorMessage != "" {
			return &streamError{Message: m.ErrorMessage}
		}
		each(m)
	}
}

var (
	errStalled = errors.New("stalled")
	errTick    = errors.New("tick")
)

// stallGuard cancels ctx when imageStall passes without a tick. The
// returned func ticks (errTick) or ends the guard (nil).
func (c *Client) stallGuard(parent context.Context) (context.Context, func(error)) {
	ctx, cancel := context.WithCancelCause(parent)
	ticks := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		t := c.clock.NewTimer(imageStall)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-ticks:
				if !t.Stop() {
					select {
					case <-t.C():
					default:
					}
				}
				t.Reset(imageStall)
			case <-t.C():
				cancel(errStalled)
				return
			}
		}
	}()
	ended := false
	return ctx, func(err error) {
		if errors.Is(err, errTick) {
			select {
			case ticks <- struct{}{}:
			default:
			}
			return
		}
		if !ended {
			ended = true
			close(done)
			cancel(nil)
		}
	}
}

// progressLog throttles progress lines to the log and the caller.
type progressLog struct {
	c       *Client
	service string
	verb    string // "pulling", "building"
	ref     string
	fn      Progress
	last    time.Time
}

func (c *Client) newProgress(service, verb, ref string, fn Progress) *progressLog {
	return &progressLog{c: c, service: service, verb: verb, ref: ref, fn: fn}
}

// note reports line unless one was reported less than progressEvery ago
// (force: report anyway).
func (p *progressLog) note(line string, force bool) {
	now := p.c.clock.Now()
	if !force && now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	msg := p.verb + " image " + p.ref
	if line != "" {
		msg += ": " + line
	}
	p.c.log.Info(strings.ToUpper(msg[:1])+msg[1:], "service", p.service)
	if p.fn != nil {
		p.fn(msg)
	}
}

func (p *progressLog) done(line string) {
	p.c.log.Info(strings.ToUpper(line[:1])+line[1:], "service", p.service)
	if p.fn != nil {
		p.fn(line)
	}
}
