package supervisor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hostagent/hostagent/compose"
)

// renderDiff writes a reload diff as golden text: one line per service.
func renderDiff(d reloadDiff) string {
	var b strings.Builder
	for _, ps := range d.add {
		fmt.Fprintf(&b, "add %s\n", ps.Name)
	}
	for _, name := range d.remove {
		fmt.Fprintf(&b, "remove %s\n", name)
	}
	for _, k := range d.keep {
		if k.why == "" {
			fmt.Fprintf(&b, "keep %s\n", k.svc.Name)
			continue
		}
		fmt.Fprintf(&b, "recreate %s (%s)\n", k.svc.Name, k.why)
	}
	return b.String()
}

// TestDiffReload: facts in (the services supervised, the new file, the
// containers observed), the diff out, as golden text.
func TestDiffReload(t *testing.T) {
	// The fake hash of a service is its image: a new image is a new hash.
	hash := func(svc *compose.Service) string { return "h:" + svc.Image }
	cases := []struct {
		name     string
		old      []string
		yaml     string
		observed map[string]Container
		want     string
	}{{
		name: "nothing changed",
		old:  []string{"db", "api"},
		yaml: `
services:
  db: {image: postgres}
  api: {image: app:1, depends_on: [db]}
`,
		observed: map[string]Container{
			"db":  {ID: "c1", ConfigHash: "h:postgres"},
			"api": {ID: "c2", ConfigHash: "h:app:1"},
		},
		want: "keep db\nkeep api\n",
	}, {
		name: "added, removed in old order, recreated on a new hash",
		old:  []string{"db", "old2", "api", "old1"},
		yaml: `
services:
  db: {image: postgres}
  api: {image: app:2, depends_on: [db]}
  extra: {image: x, depends_on: [db]}
`,
		observed: map[string]Container{
			"db":   {ID: "c1", ConfigHash: "h:postgres"},
			"api":  {ID: "c2", ConfigHash: "h:app:1"},
			"old1": {ID: "c3", ConfigHash: "h:x"},
		},
		want: "add extra\nremove old2\nremove old1\nkeep db\nrecreate api (configuration changed)\n",
	}, {
		name: "discovery's verdict wins; no container or no hash is current",
		old:  []string{"a", "b", "c"},
		yaml: `
services:
  a: {image: a}
  b: {image: b}
  c: {image: c}
`,
		observed: map[string]Container{
			"a": {ID: "c1", ConfigHash: "h:a", Outdated: "image changed"},
			"b": {ID: "c2"},
		},
		want: "recreate a (image changed)\nkeep b\nkeep c\n",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, plan := loadStack(t, tc.yaml)
			got := renderDiff(diffReload(tc.old, plan, tc.observed, hash))
			if got != tc.want {
				t.Errorf("diff:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestDiffReloadRecreateList: the services to roll out, in plan order with
// their phase and why.
func TestDiffReloadRecreateList(t *testing.T) {
	_, plan := loadStack(t, `
services:
  db: {image: postgres:2}
  api: {image: app:2, depends_on: [db]}
`)
	observed := map[string]Container{
		"db":  {ID: "c1", ConfigHash: "old"},
		"api": {ID: "c2", ConfigHash: "old"},
	}
	d := diffReload([]string{"api", "db"}, plan, observed, func(*compose.Service) string { return "new" })
	got := fmt.Sprint(d.recreate())
	want := "[{db 1 configuration changed} {api 2 configuration changed}]"
	if got != want {
		t.Errorf("recreate = %s, want %s", got, want)
	}
}
