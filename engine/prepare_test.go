package engine

import (
	"slices"
	"testing"
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
