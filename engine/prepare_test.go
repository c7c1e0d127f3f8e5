package engine

import (
	"errors"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/image"
)

func TestPrepareMakesEachNetworkAndVolumeOnce(t *testing.T) {
	fa := &fakeAPI{missing: true}
	c := newClient(fa, Options{Host: "tcp://remote:2375"})
	st := load(t, t.TempDir(), `services:
  a: {image: x, networks: [back, front], volumes: ["data:/d"]}
  b: {image: x, networks: [back], volumes: ["data:/d", "logs:/l"]}
  c: {image: x}
networks: {back: {}, front: {}}
volumes: {data: {}, logs: {}}
`)
	if err := c.Prepare(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	var nets, vols []string
	for _, n := range fa.netsMade {
		nets = append(nets, n.Labels[LabelNetwork])
	}
	for _, v := range fa.volsMade {
		vols = append(vols, v.Name)
	}
	slices.Sort(nets)
	if !slices.Equal(nets, []string{"back", "default", "front"}) || !slices.Equal(vols, []string{"p_data", "p_logs"}) {
		t.Errorf("networks made %v, volumes made %v; want each once", nets, vols)
	}
	if len(fa.created) != 0 {
		t.Errorf("Prepare created containers: %v", fa.created)
	}
}

// Creates after Prepare do not inspect the networks again: on Podman an
// inspect waits behind every start in flight.
func TestCreateInspectsNoNetworkPrepareSaw(t *testing.T) {
	fa := &fakeAPI{}
	c := newClient(fa, Options{Host: "tcp://remote:2375"})
	st := load(t, t.TempDir(), `services:
  a: {image: x, networks: [back, front]}
  b: {image: x, networks: [back]}
networks: {back: {}, front: {}}
`)
	if err := c.Prepare(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	if fa.netInspects != 2 {
		t.Fatalf("Prepare inspected %d networks, want 2", fa.netInspects)
	}
	for _, svc := range []string{"a", "b", "a"} {
		if _, err := c.Create(t.Context(), st, svc); err != nil {
			t.Fatal(err)
		}
	}
	if fa.netInspects != 2 {
		t.Errorf("%d network inspects after three creates, want still 2", fa.netInspects)
	}
	if err := c.Prepare(t.Context(), st); err != nil || fa.netInspects != 4 {
		t.Errorf("a second Prepare checks afresh: err %v, %d inspects, want 4", err, fa.netInspects)
	}
}

// A container is made ahead only with the image its start would use:
// present, and no pull or build due by pull_policy.
func TestImageReadyOnlyForPresentImagesDueNoPullOrBuild(t *testing.T) {
	fa := &fakeAPI{}
	fa.img().present["here:1"] = image.InspectResponse{ID: "sha256:1"}
	c := newClient(fa, Options{})
	st := load(t, t.TempDir(), `services:
  present: {image: "here:1"}
  absent: {image: "gone:1"}
  always: {image: "here:1", pull_policy: always}
  daily: {image: "here:1", pull_policy: daily}
  never: {image: "here:1", pull_policy: never}
`)
	want := map[string]bool{"present": true, "absent": false, "always": false, "daily": false, "never": true}
	for name, w := range want {
		got, err := c.ImageReady(t.Context(), st, name)
		if err != nil || got != w {
			t.Errorf("ImageReady(%s) = %v, %v; want %v", name, got, err, w)
		}
	}
}

// A create retries after re-making its networks only when a network is
// what was missing, not for any 404.
func TestMissingNetworkOnlyForNetworks(t *testing.T) {
	for msg, want := range map[string]bool{
		"Error response from daemon: container create: unable to find network with name or ID p_back: network not found": true,
		"Error response from daemon: network p_back not found":                                                           true,
		"Error response from daemon: No such image: localhost/x:latest":                                                  false,
		"Error response from daemon: no such object":                                                                     false,
	} {
		if got := missingNetwork(errors.New(msg)); got != want {
			t.Errorf("missingNetwork(%q) = %v, want %v", msg, got, want)
		}
	}
	if missingNetwork(nil) {
		t.Error("missingNetwork(nil) = true")
	}
}
