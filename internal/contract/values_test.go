package contract

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// values builds JSON values from the specs' schemas with one seeded
// source, so a failing run is repeated by its seed.
type values struct {
	r *rand.Rand
}

// valid returns a value the schema accepts.
func (v *values) valid(s *openapi3.Schema, depth int) any {
	if len(s.Enum) > 0 {
		return s.Enum[v.r.IntN(len(s.Enum))]
	}
	if len(s.AllOf) > 0 { // a $ref with its own description
		return v.valid(s.AllOf[0].Value, depth)
	}
	if s.Type.Is("object") || len(s.Properties) > 0 {
		return v.object(s, depth)
	}
	switch {
	case s.Type.Is("string"):
		return v.str(s)
	case s.Type.Is("integer"):
		lo, hi := bounds(s, -1000, 1000)
		return lo + v.r.Int64N(hi-lo+1)
	case s.Type.Is("number"):
		lo, hi := bounds(s, -1000, 1000)
		return float64(lo) + v.r.Float64()*float64(hi-lo)
	case s.Type.Is("boolean"):
		return v.r.IntN(2) == 0
	case s.Type.Is("array"):
		n := int(s.MinItems) + v.r.IntN(3)
		if s.MaxItems != nil && uint64(n) > *s.MaxItems {
			n = int(*s.MaxItems)
		}
		out := make([]any, n)
		for i := range out {
			out[i] = v.valid(s.Items.Value, depth+1)
		}
		return out
	}
	return "x"
}

// object fills the required properties and some optional ones. A oneOf or
// anyOf of typed branches beside the properties (the specs' "exactly one
// of" rules) gets the properties of one branch, chosen at random.
func (v *values) object(s *openapi3.Schema, depth int) map[string]any {
	out := map[string]any{}
	branches := append(slices.Clone(s.OneOf), s.AnyOf...)
	inBranch := map[string]bool{}
	for _, b := range branches {
		for name := range b.Value.Properties {
			inBranch[name] = true
		}
	}
	for name, p := range s.Properties {
		if inBranch[name] || p.Value.ReadOnly {
			continue
		}
		if slices.Contains(s.Required, name) || (depth < 3 && v.r.IntN(2) == 0) {
			out[name] = v.valid(p.Value, depth+1)
		}
	}
	if len(branches) > 0 {
		b := branches[v.r.IntN(len(branches))].Value
		for _, name := range b.Required {
			out[name] = v.valid(b.Properties[name].Value, depth+1)
		}
	}
	if len(s.Properties) == 0 && s.AdditionalProperties.Has != nil && *s.AdditionalProperties.Has && depth < 3 && v.r.IntN(2) == 0 {
		out["k"+fmt.Sprint(v.r.IntN(10))] = v.r.IntN(100)
	}
	return out
}

func bounds(s *openapi3.Schema, lo, hi int64) (int64, int64) {
	if s.Min != nil {
		lo = int64(*s.Min)
	}
	if s.Max != nil {
		hi = int64(*s.Max)
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.é中"

// str returns a string of the schema's format, pattern and length.
func (v *values) str(s *openapi3.Schema) string {
	if s.Format == "date-time" {
		return time.Date(2026, 1, 1+v.r.IntN(300), v.r.IntN(24), 0, 0, 0, time.UTC).Format(time.RFC3339)
	}
	if s.Pattern != "" {
		re := regexp.MustCompile(s.Pattern)
		for range 20 {
			out := v.regex(s.Pattern)
			if re.MatchString(out) && (s.MaxLength == nil || uint64(len([]rune(out))) <= *s.MaxLength) {
				return out
			}
		}
		panic("cannot build a string matching " + s.Pattern)
	}
	n := int(s.MinLength) + v.r.IntN(12)
	if s.MaxLength != nil && uint64(n) > *s.MaxLength {
		n = int(*s.MaxLength)
	}
	rs := []rune(letters)
	var b strings.Builder
	for range n {
		b.WriteRune(rs[v.r.IntN(len(rs))])
	}
	return b.String()
}

// regex returns a string the pattern matches, walking its syntax tree.
func (v *values) regex(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		panic(err)
	}
	var b strings.Builder
	v.walk(&b, re)
	return b.String()
}

func (v *values) walk(b *strings.Builder, re *syntax.Regexp) {
	reps := func(lo, hi int) int {
		if hi < 0 || hi > lo+3 {
			hi = lo + 3
		}
		return lo + v.r.IntN(hi-lo+1)
	}
	switch re.Op {
	case syntax.OpLiteral:
		b.WriteString(string(re.Rune))
	case syntax.OpCharClass:
		i := 2 * v.r.IntN(len(re.Rune)/2)
		lo, hi := re.Rune[i], re.Rune[i+1]
		if hi-lo > 200 {
			hi = lo + 200
		}
		b.WriteRune(lo + rune(v.r.IntN(int(hi-lo)+1)))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte('a')
	case syntax.OpCapture:
		v.walk(b, re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			v.walk(b, sub)
		}
	case syntax.OpAlternate:
		v.walk(b, re.Sub[v.r.IntN(len(re.Sub))])
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := re.Min, re.Max
		switch re.Op {
		case syntax.OpStar:
			lo, hi = 0, -1
		case syntax.OpPlus:
			lo, hi = 1, -1
		case syntax.OpQuest:
			lo, hi = 0, 1
		}
		for range reps(lo, hi) {
			v.walk(b, re.Sub[0])
		}
	}
}

// invalid returns a value the schema refuses, and false when it cannot
// make one (a schema that takes anything).
func (v *values) invalid(s *openapi3.Schema) (any, bool) {
	if len(s.AllOf) > 0 {
		return v.invalid(s.AllOf[0].Value)
	}
	var opts []func() any
	switch {
	case len(s.Enum) > 0:
		opts = append(opts, func() any { return "not-in-the-enum" })
	case s.Type.Is("string"):
		opts = append(opts, func() any { return 12345 })
		if s.Pattern != "" {
			opts = append(opts, func() any { return "bad value!/.." })
		}
		if s.MaxLength != nil && *s.MaxLength < 600 {
			opts = append(opts, func() any { return strings.Repeat("x", int(*s.MaxLength)+1) })
		}
		if s.MinLength > 0 {
			opts = append(opts, func() any { return "" })
		}
		if s.Format == "date-time" {
			opts = append(opts, func() any { return "yesterday" })
		}
	case s.Type.Is("integer"), s.Type.Is("number"):
		opts = append(opts, func() any { return "seven" })
		if s.Min != nil {
			opts = append(opts, func() any { return *s.Min - 1 })
		}
		if s.Max != nil {
			opts = append(opts, func() any { return *s.Max + 1 })
		}
	case s.Type.Is("boolean"):
		opts = append(opts, func() any { return "yes" })
	case s.Type.Is("array"):
		opts = append(opts, func() any { return "not-a-list" })
	case s.Type.Is("object"):
		opts = append(opts, func() any { return []any{1} })
	}
	if len(opts) == 0 {
		return nil, false
	}
	return opts[v.r.IntN(len(opts))](), true
}
