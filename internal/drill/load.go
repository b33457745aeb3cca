package drill

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrInvalid is wrapped by every problem Load and Validate find;
// errors.Is(err, ErrInvalid) tells a bad scenario from an unreadable file.
var ErrInvalid = errors.New("invalid scenario")

// Problem is one thing wrong with a scenario, at a key path such as
// timeline[2].fault.duration.
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

// LoadFile reads, decodes and validates the scenario at path. See Parse.
func LoadFile(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	return Parse(b)
}

// Parse decodes a scenario strictly (an unknown or repeated key is a
// problem), applies defaults and validates it. Every problem is returned
// at once, joined, each a *Problem naming its key path.
func Parse(b []byte) (*Scenario, error) {
	var s Scenario
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, &Problem{Msg: "the scenario is empty"}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &Problem{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var d decoder
	if len(doc.Content) > 0 {
		d.decode("", doc.Content[0], reflect.ValueOf(&s).Elem())
	}
	errs := d.errs
	s.applyDefaults()
	for _, p := range s.Validate() {
		if !covered(p, d.errs) {
			errs = append(errs, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &s, nil
}

// decoder walks a YAML node and a Go value together so that every problem
// carries its key path.
type decoder struct{ errs []error }

func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.errs = append(d.errs, &Problem{Path: path, Msg: fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, args...)})
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (d *decoder) decode(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if v.Addr().Type().Implements(unmarshalerType) || v.Kind() != reflect.Struct && v.Kind() != reflect.Slice && v.Kind() != reflect.Pointer {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(path, n.Line, "%s", yamlMsg(err))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(path, n, v.Elem())
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n.Line, "want a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(fmt.Sprintf("%s[%d]", path, i), c, s.Index(i))
		}
		v.Set(s)
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	}
}

func (d *decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "want a mapping")
		return
	}
	fields := map[string]reflect.Value{}
	var names []string
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = v.Field(i)
			names = append(names, name)
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		p := kn.Value
		if path != "" {
			p = path + "." + kn.Value
		}
		if seen[kn.Value] {
			d.fail(p, kn.Line, "key appears twice")
			continue
		}
		seen[kn.Value] = true
		f, ok := fields[kn.Value]
		if !ok {
			d.fail(p, kn.Line, "unknown key (known here: %s)", strings.Join(names, ", "))
			continue
		}
		d.decode(p, vn, f)
	}
}

// yamlMsg turns yaml.v3's multi-line type errors into one line.
func yamlMsg(err error) string {
	if te, ok := errors.AsType[*yaml.TypeError](err); ok {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			if _, rest, ok := strings.Cut(m, ": "); ok && strings.HasPrefix(m, "line ") {
				m = rest
			}
			msgs[i] = m
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// covered reports whether p's key (or a parent) already failed to decode.
func covered(p *Problem, decodeErrs []error) bool {
	for _, e := range decodeErrs {
		if dp, ok := e.(*Problem); ok && (dp.Path == p.Path || strings.HasPrefix(p.Path, dp.Path+".") || strings.HasPrefix(p.Path, dp.Path+"[")) {
			return true
		}
	}
	return false
}
