package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/moby/go-archive"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/hostagent/hostagent/compose"
)

// buildImage builds the service's `build:` section through the engine's
// build API (Podman's compat /build runs Buildah), the way compose's
// classic builder does: the context directory as a tar that honours
// .dockerignore, the dockerfile, target, args and labels, tagged ref
// plus build.tags. A build that fails, or cannot begin (context or
// dockerfile missing), is ErrImageUnavailable with the reason: building or
// loading the image on the host fixes it.
func (c *Client) buildImage(ctx context.Context, st *compose.Stack, svc compose.Service, ref string, progress Progress) error {
	if svc.Config.Build == nil {
		return fmt.Errorf("%w: %s: service %s has no build section", ErrImageUnavailable, ref, svc.Name)
	}
	dir, dockerfile, err := buildContext(st, svc)
	if err != nil {
		return fmt.Errorf("%w: %s: cannot build it: %w", ErrImageUnavailable, ref, err)
	}
	tarball, err := contextTar(dir, dockerfile)
	if err != nil {
		return fmt.Errorf("%w: %s: cannot build it: build context %s: %w", ErrImageUnavailable, ref, dir, err)
	}
	defer tarball.Close()
	pr := c.newProgress(svc.Name, "building", ref, progress)
	pr.note("context "+dir, true)
	return c.runBuild(ctx, tarball, ref, buildOptions(st, svc, ref, dockerfile), pr)
}

// buildOptions are the build's settings as the compose file has them,
// tagged ref plus build.tags and labelled with the project and service.
func buildOptions(st *compose.Stack, svc compose.Service, ref, dockerfile string) build.ImageBuildOptions {
	b := svc.Config.Build
	labels := maps.Clone(map[string]string(b.Labels))
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelProject], labels[LabelService] = st.Name, svc.Name
	opts := build.ImageBuildOptions{
		Version:    build.BuilderV1,
		Tags:       append([]string{ref}, b.Tags...),
		Dockerfile: dockerfile,
		Target:     b.Target,
		// compose-go resolved bare `KEY` args from the environment at
		// load (and dropped the unset ones).
		BuildArgs:   maps.Clone(b.Args),
		Labels:      labels,
		NoCache:     b.NoCache,
		PullParent:  b.Pull,
		NetworkMode: b.Network,
		ExtraHosts:  b.ExtraHosts.AsList(":"),
		Remove:      true,
	}
	if len(b.Platforms) == 1 {
		opts.Platform = b.Platforms[0]
	}
	return opts
}

// runBuild sends the build, follows its output and checks that the image
// ref is there, all under one stall guard.
func (c *Client) runBuild(ctx context.Context, tarball io.Reader, ref string, opts build.ImageBuildOptions, pr *progressLog) error {
	ctx, stop := c.stallGuard(ctx)
	defer stop(nil)
	resp, err := c.api.ImageBuild(ctx, tarball, opts)
	if err = c.noted(ctx, "build image "+ref, err); err != nil {
		if errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: %s: build failed: %s", ErrImageUnavailable, ref, answer(err))
	}
	defer resp.Body.Close()
	err = readStream(resp.Body, stop, func(m streamMsg) {
		line := strings.TrimSpace(m.Stream)
		if line == "" {
			return
		}
		// Steps are few and say where a slow build is; other output is
		// throttled.
		pr.note(line, strings.HasPrefix(line, "STEP ") || strings.HasPrefix(line, "Step "))
	})
	if err != nil {
		var jerr *streamError
		if errors.As(err, &jerr) {
			return fmt.Errorf("%w: %s: build failed: %s", ErrImageUnavailable, ref, strings.TrimSpace(jerr.Message))
		}
		return c.streamErr(ctx, "build", ref, err)
	}
	if _, found, err := c.inspectImage(ctx, ref); err != nil || !found {
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s: the build ended but the image is not there", ErrImageUnavailable, ref)
	}
	pr.done("built image " + ref)
	return nil
}

// buildContext resolves the build context directory and the dockerfile's
// path inside it. Remote contexts, inline dockerfiles and dockerfiles
// outside the context are refused with the fix.
func buildContext(st *compose.Stack, svc compose.Service) (dir, dockerfile string, err error) {
	b := svc.Config.Build
	dir = b.Context
	if dir == "" {
		dir = "."
	}
	if strings.Contains(dir, "://") || strings.HasPrefix(dir, "git@") {
		return "", "", fmt.Errorf("build context %s: only a local directory can be built here (build the image beforehand and set image:)", dir)
	}
	if b.DockerfileInline != "" {
		return "", "", errors.New("dockerfile_inline is not supported: put the Dockerfile in the build context")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(st.WorkingDir, dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", "", fmt.Errorf("build context %s is not a directory", dir)
	}
	dockerfile = b.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if filepath.IsAbs(dockerfile) {
		if dockerfile, err = filepath.Rel(dir, dockerfile); err != nil {
			return "", "", fmt.Errorf("dockerfile: %w", err)
		}
	}
	dockerfile = filepath.ToSlash(filepath.Clean(dockerfile))
	if dockerfile == ".." || strings.HasPrefix(dockerfile, "../") {
		return "", "", fmt.Errorf("dockerfile %s is outside the build context %s: move it inside", b.Dockerfile, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, dockerfile)); err != nil {
		return "", "", fmt.Errorf("dockerfile: %w", err)
	}
	return dir, dockerfile, nil
}

// contextTar tars dir without what .dockerignore excludes, but always
// with the dockerfile and .dockerignore themselves (the builder needs
// them), owned by root as docker build sends it.
func contextTar(dir, dockerfile string) (io.ReadCloser, error) {
	excludes, err := readDockerignore(dir)
	if err != nil {
		return nil, err
	}
	for _, keep := range []string{".dockerignore", dockerfile} {
		if m, _ := patternmatcher.MatchesOrParentMatches(keep, excludes); m {
			excludes = append(excludes, "!"+keep)
		}
	}
	return archive.TarWithOptions(dir, &archive.TarOptions{
		ExcludePatterns: excludes,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
}

func readDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return patterns, nil
}
