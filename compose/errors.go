package compose

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// describe turns a loader error into one a person can act on: it names
// the file, with a 1-based line and column where the YAML parser or the
// schema gives one, says "tab" when a tab is the trouble, and suggests the
// key that was probably meant.
func describe(file string, err error) error {
	var mv *MissingVariablesError
	if errors.As(err, &mv) {
		return err
	}
	msg := err.Error()
	if d := describeYAML(file, msg); d != nil {
		return d
	}
	if d := describeUnknownKey(file, msg); d != nil {
		return d
	}
	if strings.Contains(msg, file) {
		return err
	}
	return fmt.Errorf("%s: %w", file, err)
}

// yamlSyntax matches the YAML library's syntax errors, e.g. "yaml: while
// parsing a block mapping at line 2, column 5: line 3, column 5: did not
// find expected key".
var yamlSyntax = regexp.MustCompile(`yaml: (while (parsing|scanning) [^:]*?)(?: at (?:line (\d+)(?:, column (\d+))?|<unknown position>))?: (?:line (\d+)(?:, column (\d+))?: )?(.*)$`)

func describeYAML(file, msg string) error {
	m := yamlSyntax.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	line, col := atoiOr(m[5], 0), atoiOr(m[6], 0)
	if line == 0 {
		line, col = atoiOr(m[3], 0), atoiOr(m[4], 0)
	}
	// The parser's marks count lines from 0 (its columns, and the
	// scanner's lines, from 1).
	if m[2] == "parsing" && line > 0 {
		line++
	}
	problem := m[7]
	if text, ok := lineOf(file, line); ok {
		indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
		switch {
		case strings.Contains(indent, "\t"):
			problem = "a tab character indents this line; YAML indentation must be spaces"
		case strings.Contains(problem, "cannot start any token") && strings.Contains(text, "\t"):
			problem = "a tab character on this line; YAML allows tabs only inside quoted strings"
		}
	}
	where := file
	if line > 0 {
		where += ":" + strconv.Itoa(line)
		if col > 0 {
			where += ":" + strconv.Itoa(col)
		}
	}
	return fmt.Errorf("%s: %s (%s)", where, problem, m[1])
}

// unknownKey matches compose-go's schema errors for a key it does not know.
var unknownKey = []*regexp.Regexp{
	regexp.MustCompile(`(?:validating \S+: )?([\w.\-]+)\.([\w\-]+) false schema`),
	regexp.MustCompile(`(?:validating \S+: )?\s*([\w.\-]*) additional propert(?:y|ies) '([\w\-]+)' (?:is )?not allowed`),
}

func describeUnknownKey(file, msg string) error {
	for _, re := range unknownKey {
		m := re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		parent, key := m[1], m[2]
		path := []string{key}
		if parent != "" {
			path = append(strings.Split(parent, "."), key)
		}
		where := file
		if line, col := keyPosition(file, path); line > 0 {
			where = fmt.Sprintf("%s:%d:%d", file, line, col)
		}
		text := fmt.Sprintf("%s: unknown top-level key %q", where, key)
		if parent != "" {
			text = fmt.Sprintf("%s: %s: unknown key %q", where, parent, key)
		}
		if s := Suggest(key, knownKeys(parent)); s != "" {
			text += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return errors.New(text)
	}
	return nil
}

// knownKeys are the keys compose accepts under a path such as
// "services.app" (a service) or "" (the top level).
func knownKeys(parent string) []string {
	parts := strings.Split(parent, ".")
	switch {
	case parent == "":
		return yamlKeys(reflect.TypeOf(types.Project{}))
	case len(parts) == 2 && parts[0] == "services":
		return yamlKeys(reflect.TypeOf(types.ServiceConfig{}))
	case len(parts) == 3 && parts[0] == "services" && parts[2] == "healthcheck":
		return yamlKeys(reflect.TypeOf(types.HealthCheckConfig{}))
	case len(parts) == 3 && parts[0] == "services" && parts[2] == "deploy":
		return yamlKeys(reflect.TypeOf(types.DeployConfig{}))
	}
	return nil
}

func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" && !strings.HasPrefix(name, "#") {
			out = append(out, name)
		}
	}
	return out
}

// Suggest returns the candidate closest to word when it is close enough
// to be a typo (edit distance at most 2, or a third of the word), else "".
func Suggest(word string, candidates []string) string {
	best, bestD := "", len(word)/3+1
	bestD = max(bestD, 2)
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		if d := editDistance(strings.ToLower(word), strings.ToLower(c)); d > 0 && d <= bestD && (best == "" || d < editDistance(strings.ToLower(word), strings.ToLower(best))) {
			best = c
		}
	}
	return best
}

// editDistance is the Levenshtein distance, transpositions counting one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// keyPosition finds the 1-based line and column of the mapping key at
// path in file, or 0, 0.
func keyPosition(file string, path []string) (int, int) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, 0
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0, 0
	}
	n := doc.Content[0]
	for i, key := range path {
		if n.Kind != yaml.MappingNode {
			return 0, 0
		}
		found := false
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				if i == len(path)-1 {
					return n.Content[j].Line, n.Content[j].Column
				}
				n, found = n.Content[j+1], true
				break
			}
		}
		if !found {
			return 0, 0
		}
	}
	return 0, 0
}

func lineOf(file string, line int) (string, bool) {
	data, err := os.ReadFile(file)
	if err != nil || line <= 0 {
		return "", false
	}
	lines := strings.Split(string(data), "\n")
	if line > len(lines) {
		return "", false
	}
	return lines[line-1], true
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// describeJSONField rewrites encoding/json's `json: unknown field "x"`
// (which names Go, not the file) for the x-hostagent block.
func describeJSONField(err error, known []string) error {
	const prefix = "json: unknown field "
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: want a %s, got a %s", te.Field, te.Type.Kind(), te.Value)
		}
		return err
	}
	field, _ := strconv.Unquote(strings.TrimPrefix(msg, prefix))
	text := fmt.Sprintf("unknown key %q", field)
	if s := Suggest(field, known); s != "" {
		text += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return errors.New(text + "; known keys: " + strings.Join(known, ", "))
}
