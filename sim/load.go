package sim

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed scenarios/*.yaml
var builtin embed.FS

// DefaultScenario is the scenario lbsim runs when it is given none.
const DefaultScenario = "rolling-update"

// ScenarioNames returns the names of the built-in scenarios, sorted.
func ScenarioNames() []string {
	entries, _ := fs.ReadDir(builtin, "scenarios")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// BuiltinScenario returns the built-in scenario called name, or an
// UnknownNameError listing the valid names.
func BuiltinScenario(name string) (Scenario, error) {
	data, err := builtin.ReadFile("scenarios/" + name + ".yaml")
	if err != nil || strings.ContainsAny(name, "/\\") {
		return Scenario{}, &UnknownNameError{Kind: "scenario", Name: name, Valid: ScenarioNames()}
	}
	return ParseScenario(name+".yaml", data)
}

// BuiltinScenarioYAML returns the YAML of a built-in scenario, for people
// who want to copy and edit one.
func BuiltinScenarioYAML(name string) ([]byte, error) {
	data, err := builtin.ReadFile("scenarios/" + name + ".yaml")
	if err != nil {
		return nil, &UnknownNameError{Kind: "scenario", Name: name, Valid: ScenarioNames()}
	}
	return data, nil
}

// LoadScenario reads a scenario file, and the trace it names (relative to
// the file), and validates both.
func LoadScenario(path string) (Scenario, error) { return LoadScenarioProgress(path, nil) }

// LoadScenarioProgress is LoadScenario that calls progress, if not nil,
// now and then with the fraction of the scenario's trace read.
func LoadScenarioProgress(path string, progress func(done float64)) (Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("sim: %w", err)
	}
	sc, err := ParseScenario(path, data)
	if err != nil {
		return Scenario{}, err
	}
	if sc.Trace != "" {
		tp := sc.Trace
		if !filepath.IsAbs(tp) {
			tp = filepath.Join(filepath.Dir(path), tp)
		}
		if sc.TraceFile, err = ReadTraceProgress(tp, progress); err != nil {
			return Scenario{}, err
		}
		if err := sc.check(path, nil); err != nil {
			return Scenario{}, err
		}
	}
	return sc, nil
}

// ParseScenario parses and validates a scenario from YAML. Errors name the
// file, the line and the field: "rollout.yaml:12: workload.rate: must be
// positive". Unknown fields are errors, so a typo never goes unnoticed.
func ParseScenario(name string, data []byte) (Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Scenario{}, fmt.Errorf("%s: %w: %s", name, ErrScenario, yamlMessage(err, nil))
	}
	if root.Kind == 0 {
		return Scenario{}, fmt.Errorf("%s: %w: the file is empty", name, ErrScenario)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return Scenario{}, fmt.Errorf("%s: %w: %s", name, ErrScenario, yamlMessage(err, &root))
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return Scenario{}, fmt.Errorf("%s: %w: line %d: a second YAML document; a scenario file holds one scenario", name, ErrScenario, max(next.Line, 1))
	case !errors.Is(err, io.EOF):
		return Scenario{}, fmt.Errorf("%s: %w: %s", name, ErrScenario, yamlMessage(err, nil))
	}
	if err := sc.check(name, &root); err != nil {
		return Scenario{}, err
	}
	return sc, nil
}

// UnmarshalYAML reads a Go duration or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 1.5s", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// check validates a copy of sc (normalize fills in defaults) and places
// a field error at its line.
func (sc Scenario) check(name string, root *yaml.Node) error {
	err := sc.normalize()
	var fe *FieldError
	if errors.As(err, &fe) {
		if line := lineOf(root, fe.Path); line > 0 {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return err
}

var (
	yamlLine    = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)
	yamlUnknown = regexp.MustCompile(`field (\S+) not found in type \S+`)
	yamlType    = regexp.MustCompile("cannot unmarshal !!(\\w+) `([^`]*)` into (\\S+)")
	yamlKind    = regexp.MustCompile(`cannot unmarshal !!(\w+) into (\S+)`)
)

// yamlMessage rewrites yaml.v3's messages in the scenario's own words,
// naming the field of a type error when root is given.
func yamlMessage(err error, root *yaml.Node) string {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	for i, m := range msgs {
		line := 0
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			line, _ = strconv.Atoi(g[1])
			m = m[len(g[0]):]
		}
		m = yamlUnknown.ReplaceAllString(m, "unknown field \"$1\"")
		field := ""
		if g := yamlType.FindStringSubmatch(m); g != nil {
			field = pathAt(root, line, yaml.ScalarNode, g[2])
			m = fmt.Sprintf("%q is %s, want %s", g[2], yamlKindName(g[1]), goTypeName(g[3]))
		} else if g := yamlKind.FindStringSubmatch(m); g != nil {
			kind := yaml.MappingNode
			if g[1] == "seq" {
				kind = yaml.SequenceNode
			}
			field = pathAt(root, line, kind, "")
			m = fmt.Sprintf("%s, want %s", yamlKindName(g[1]), goTypeName(g[2]))
		}
		if field != "" {
			m = field + ": " + m
		}
		if line > 0 {
			m = "line " + strconv.Itoa(line) + ": " + m
		}
		msgs[i] = m
	}
	return strings.Join(msgs, "; ")
}

// yamlKindName names a YAML tag in words.
func yamlKindName(tag string) string {
	switch tag {
	case "str":
		return "a string"
	case "int", "float":
		return "a number"
	case "bool":
		return "a boolean"
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	case "null":
		return "null"
	}
	return "a " + tag
}

// goTypeName says in words what a field of Go type t takes.
func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case t == "bool":
		return "true or false"
	case t == "string", t == "sim.IntOrPercent":
		return "a string"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case t == "sim.Duration":
		return "a duration such as 1.5s"
	}
	return "a mapping of its fields"
}

// pathAt returns the field path ("workload.rate", "churn[1].at") of the
// innermost node of the given kind on the given line that reads value (a
// scalar) or holds anything (a list or mapping); "" when there is none.
func pathAt(root *yaml.Node, line int, kind yaml.Kind, value string) string {
	if root == nil || line <= 0 {
		return ""
	}
	best := ""
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Line == line && path != "" && path[0] != '[' {
			if n.Kind == kind && (kind != yaml.ScalarNode || n.Value == value) {
				best = path
			}
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(root, "")
	return best
}

// lineOf finds the line of a field path such as "churn[2].scale.replicas"
// in a YAML document, or the line of its nearest parent that is there.
func lineOf(root *yaml.Node, path string) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		key, idx := part, -1
		if k, rest, ok := strings.Cut(part, "["); ok {
			key = k
			idx, _ = strconv.Atoi(strings.TrimSuffix(rest, "]"))
		}
		next := (*yaml.Node)(nil)
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					line = n.Content[i].Line
					next = n.Content[i+1]
				}
			}
		}
		if next == nil {
			return line
		}
		if idx >= 0 {
			if next.Kind != yaml.SequenceNode || idx >= len(next.Content) {
				return line
			}
			next = next.Content[idx]
			line = next.Line
		}
		n = next
	}
	return line
}

// UnmarshalYAML reads a count or a percentage.
func (v *IntOrPercent) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a count or a percentage such as 25%%", n.Line)
	}
	*v = IntOrPercent(n.Value)
	return nil
}
