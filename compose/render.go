package compose

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
)

// Text renders the plan as phase tables: one per phase, a row per service.
func (p *Plan) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Project %s: %d services, %d phases", p.Project, len(p.Services), len(p.Phases))
	if n := countServices(p.Monitoring); n > 0 {
		fmt.Fprintf(&b, " + monitoring track (%d services)", n)
	}
	b.WriteString("\n")
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	p.writeTrack(&b, p.Phases, "Phase")
	if len(p.Monitoring) > 0 {
		b.WriteString("\nMonitoring track (parallel with core services, never gates them)\n")
		p.writeTrack(&b, p.Monitoring, "Step")
	}
	fmt.Fprintf(&b, "\nCritical path: %s (est. %s)\n", strings.Join(p.CriticalPath, " -> "), round(p.Makespan))
	return b.String()
}

func (p *Plan) writeTrack(b *strings.Builder, phases []Phase, word string) {
	for _, ph := range phases {
		fmt.Fprintf(b, "\n%s %d: %s\n", word, ph.Number, ph.Name)
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SERVICE\tCATEGORY\tGPU\tHEALTH\tGRACE\tEST. READY\tWAITS FOR")
		for _, name := range ph.Services {
			s, _ := p.Lookup(name)
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Category, gpuText(s.GPU), healthText(s.Health),
				round(s.Health.StartPeriod), "+"+round(s.EarliestReady).String(), waitsText(s.Waits))
		}
		tw.Flush()
	}
}

func gpuText(g GPUNeed) string {
	if !g.Required {
		return "-"
	}
	if g.VRAMBytes > 0 {
		return fmt.Sprintf("yes (%.1f GiB)", float64(g.VRAMBytes)/(1<<30))
	}
	return "yes"
}

var spaces = regexp.MustCompile(`\s+`)

func healthText(h HealthSpec) string {
	switch h.Method {
	case HealthHTTP:
		return "http " + h.URL
	case HealthCommand:
		cmd := h.Shell
		if cmd == "" {
			cmd = strings.Join(h.Command, " ")
		}
		cmd = spaces.ReplaceAllString(strings.TrimSpace(cmd), " ")
		if len(cmd) > 40 {
			cmd = cmd[:37] + "..."
		}
		return "command " + cmd
	}
	return string(h.Method)
}

func waitsText(ds []Dependency) string {
	if len(ds) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		cond := strings.TrimPrefix(string(d.Condition), "service_")
		switch {
		case d.Implicit:
			cond += ", implicit"
		case !d.Required:
			cond += ", soft"
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", d.Service, cond))
	}
	return strings.Join(parts, ", ")
}

func round(d time.Duration) time.Duration { return d.Round(time.Second) }

// planJSON is the machine-readable plan; durations are in seconds.
type planJSON struct {
	Project      string        `json:"project"`
	Services     []serviceJSON `json:"services"`
	Phases       []phaseJSON   `json:"phases"`
	Monitoring   []phaseJSON   `json:"monitoring"`
	CriticalPath []string      `json:"critical_path"`
	MakespanS    float64       `json:"makespan_s"`
	Warnings     []string      `json:"warnings"`
}

type phaseJSON struct {
	Phase    int      `json:"phase"`
	Name     string   `json:"name"`
	Services []string `json:"services"`
}

type serviceJSON struct {
	Name            string       `json:"name"`
	DisplayName     string       `json:"display_name"`
	Image           string       `json:"image"`
	Phase           int          `json:"phase"`
	Track           Track        `json:"track"`
	Category        string       `json:"category"`
	GPU             bool         `json:"gpu"`
	VRAMBytes       uint64       `json:"vram_bytes,omitempty"`
	DependsOn       []Dependency `json:"depends_on"`
	Health          healthJSON   `json:"health"`
	Ports           []Port       `json:"ports"`
	StartupEstimate float64      `json:"startup_estimate_s"`
	EarliestStart   float64      `json:"earliest_start_s"`
	EarliestReady   float64      `json:"earliest_ready_s"`
	RemainingPath   float64      `json:"remaining_path_s"`
}

type healthJSON struct {
	Method         HealthMethod `json:"method"`
	URL            string       `json:"url,omitempty"`
	Command        []string     `json:"command,omitempty"`
	IntervalS      float64      `json:"interval_s"`
	TimeoutS       float64      `json:"timeout_s"`
	Retries        int          `json:"retries"`
	StartPeriodS   float64      `json:"start_period_s"`
	StartIntervalS float64      `json:"start_interval_s,omitempty"`
}

// JSON renders the plan for scripts: services[] with name, phase, category,
// gpu, depends_on[] and health.method, plus critical_path.
func (p *Plan) JSON() ([]byte, error) {
	out := planJSON{
		Project:      p.Project,
		Services:     []serviceJSON{},
		Phases:       phasesJSON(p.Phases),
		Monitoring:   phasesJSON(p.Monitoring),
		CriticalPath: append([]string{}, p.CriticalPath...),
		MakespanS:    seconds(p.Makespan),
		Warnings:     append([]string{}, p.Warnings...),
	}
	for _, s := range p.Services {
		h := s.Health
		out.Services = append(out.Services, serviceJSON{
			Name: s.Name, DisplayName: s.DisplayName, Image: s.Image, Phase: s.Phase, Track: s.Track,
			Category: s.Category.String(), GPU: s.GPU.Required, VRAMBytes: s.GPU.VRAMBytes,
			DependsOn: append([]Dependency{}, s.Waits...),
			Health: healthJSON{Method: h.Method, URL: h.URL, Command: h.Command, IntervalS: seconds(h.Interval),
				TimeoutS: seconds(h.Timeout), Retries: h.Retries, StartPeriodS: seconds(h.StartPeriod),
				StartIntervalS: seconds(h.StartInterval)},
			Ports:           append([]Port{}, s.Ports...),
			StartupEstimate: seconds(s.StartupEstimate),
			EarliestStart:   seconds(s.EarliestStart),
			EarliestReady:   seconds(s.EarliestReady),
			RemainingPath:   seconds(s.RemainingPath),
		})
	}
	return json.MarshalIndent(out, "", "  ")
}

// RedactedJSON is JSON with the stack's secret values (Stack.Redactor)
// replaced by "***": what the API serves, where health commands and URLs
// carry interpolated ${VAR}s.
func (p *Plan) RedactedJSON() ([]byte, error) {
	data, err := p.JSON()
	if err != nil {
		return nil, err
	}
	return p.redactor.RedactJSON(data), nil
}

func phasesJSON(ph []Phase) []phaseJSON {
	out := []phaseJSON{}
	for _, p := range ph {
		out = append(out, phaseJSON{Phase: p.Number, Name: p.Name, Services: p.Services})
	}
	return out
}

var mermaidUnsafe = regexp.MustCompile(`[^A-Za-z0-9_]`)

func mermaidID(name string) string { return "s_" + mermaidUnsafe.ReplaceAllString(name, "_") }

// Mermaid draws the dependency graph: a subgraph
// per phase, solid arrows for hard dependencies, dashed for soft and
// implicit ones.
func (p *Plan) Mermaid() string {
	var b strings.Builder
	b.WriteString("graph TD\n")
	sub := func(id, title string, names []string) {
		fmt.Fprintf(&b, "    subgraph %s[\"%s\"]\n", id, title)
		for _, n := range names {
			s, _ := p.Lookup(n)
			label := s.Name
			for _, port := range s.Ports {
				if port.HostPort > 0 {
					label += fmt.Sprintf("<br/>port:%d", port.HostPort)
					break
				}
			}
			if s.GPU.Required {
				label += "<br/>GPU"
			}
			fmt.Fprintf(&b, "        %s[\"%s\"]\n", mermaidID(s.Name), label)
		}
		b.WriteString("    end\n")
	}
	for _, ph := range p.Phases {
		sub(fmt.Sprintf("phase%d", ph.Number), fmt.Sprintf("Phase %d: %s", ph.Number, ph.Name), ph.Services)
	}
	for _, ph := range p.Monitoring {
		sub(fmt.Sprintf("monitoring%d", ph.Number), fmt.Sprintf("Monitoring %d", ph.Number), ph.Services)
	}
	b.WriteString("\n")
	for _, s := range p.Services {
		for _, d := range s.Waits {
			arrow := "-->"
			if d.Implicit || !d.Required {
				arrow = "-.->"
			}
			fmt.Fprintf(&b, "    %s %s %s\n", mermaidID(s.Name), arrow, mermaidID(d.Service))
		}
	}
	return b.String()
}
