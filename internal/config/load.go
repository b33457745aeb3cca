package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// ErrInvalid wraps every problem Load finds; errors.Is(err, ErrInvalid)
// tells a bad file from an unreadable one.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong with a configuration, at a key path such as
// dependencies.crm.timeout.
type Problem struct {
	Path string
	Msg  string
}

func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

func (p *Problem) Unwrap() error { return ErrInvalid }

// LoadFile reads and parses the file at path. See Parse.
func LoadFile(path string, getenv func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b, getenv)
}

// Parse decodes YAML strictly into a Config with defaults applied and
// validates it. ${NAME} and ${NAME:-default} in values are expanded with
// getenv; a reference to an unset variable without a default is a problem.
// Every problem is returned at once, joined, each a *Problem naming its key.
func Parse(b []byte, getenv func(string) string) (*Config, error) {
	cfg := Default()
	var errs []error
	if len(bytes.TrimSpace(b)) > 0 {
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, &Problem{Msg: cleanYAMLError(err)}
		}
		d := decoder{getenv: getenv}
		if len(doc.Content) > 0 {
			d.decode("", doc.Content[0], reflect.ValueOf(cfg).Elem())
		}
		errs = d.errs
	}
	// Validate even after decode problems so the user sees everything at
	// once, but skip keys that already failed to decode.
	cfg.applyDefaults()
	for _, verr := range cfg.Validate() {
		if !coveredBy(verr, errs) {
			errs = append(errs, verr)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

type decoder struct {
	getenv func(string) string
	errs   []error
}

func (d *decoder) fail(path string, format string, args ...any) {
	d.errs = append(d.errs, &Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode walks n and v together so that every problem carries its path.
func (d *decoder) decode(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	pv := v.Addr().Type()
	if pv.Implements(unmarshalerType) || pv.Implements(textUnmarshalerType) || isScalar(v.Kind()) {
		d.decodeLeaf(path, n, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	case reflect.Map:
		d.decodeMap(path, n, v)
	case reflect.Slice:
		d.decodeSlice(path, n, v)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(path, n, v.Elem())
	default:
		d.fail(path, "unsupported type %s", v.Type())
	}
}

func (d *decoder) decodeMap(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "line %d: want a mapping", n.Line)
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(join(path, k), n.Content[i+1], e)
		v.SetMapIndex(reflect.ValueOf(k), e)
	}
}

func (d *decoder) decodeSlice(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, "line %d: want a list", n.Line)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.decode(fmt.Sprintf("%s[%d]", path, i), c, s.Index(i))
	}
	v.Set(s)
}

func isScalar(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64, reflect.Float32, reflect.Uint, reflect.Uint64:
		return true
	}
	return false
}

func (d *decoder) decodeLeaf(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.ScalarNode {
		val, err := expandEnv(n.Value, d.getenv)
		if err != nil {
			d.fail(path, "line %d: %v", n.Line, err)
			return
		}
		if val != n.Value {
			c := *n
			c.Value = val
			if c.Tag != "!!str" && c.Style == 0 {
				c.Tag = "" // let the expanded text resolve its own type
			}
			n = &c
		}
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.fail(path, "line %d: %s", n.Line, cleanYAMLError(err))
	}
}

func (d *decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "line %d: want a mapping", n.Line)
		return
	}
	fields := map[string]reflect.Value{}
	collectFields(v, fields)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := kn.Value
		p := join(path, key)
		if seen[key] {
			d.fail(p, "line %d: key appears twice", kn.Line)
			continue
		}
		seen[key] = true
		f, ok := fields[key]
		if !ok {
			msg := fmt.Sprintf("line %d: unknown key", kn.Line)
			if s := suggest(key, fields); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errs = append(d.errs, &Problem{Path: p, Msg: msg})
			continue
		}
		d.decode(p, vn, f)
	}
}

// collectFields maps yaml keys to settable fields, flattening ",inline".
func collectFields(v reflect.Value, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" {
			collectFields(v.Field(i), out)
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out[name] = v.Field(i)
	}
}

// suggest returns the known key closest to key, if it is close.
func suggest(key string, fields map[string]reflect.Value) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, k := range names {
		if dist := levenshtein(key, k); dist < bestD {
			best, bestD = k, dist
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

var envRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`) })

// expandEnv replaces ${NAME} and ${NAME:-default}. An unset NAME without a
// default is an error naming it.
func expandEnv(s string, getenv func(string) string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var missing []string
	out := envRef().ReplaceAllStringFunc(s, func(m string) string {
		sub := envRef().FindStringSubmatch(m)
		if v := getenv(sub[1]); v != "" {
			return v
		}
		if sub[2] != "" {
			return sub[3]
		}
		missing = append(missing, sub[1])
		return ""
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

var linePrefix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^line \d+: `) })

// cleanYAMLError turns yaml.v3's multi-line messages into one line.
func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = linePrefix().ReplaceAllString(m, "")
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// coveredBy reports whether err's key already has a decode problem.
func coveredBy(err error, decodeErrs []error) bool {
	p, ok := err.(*Problem)
	if !ok {
		return false
	}
	for _, d := range decodeErrs {
		if dp, ok := d.(*Problem); ok && (dp.Path == p.Path || strings.HasPrefix(p.Path, dp.Path+".")) {
			return true
		}
	}
	return false
}
