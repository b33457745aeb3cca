package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Diff returns the key paths (as in the YAML file, e.g.
// "dependencies.crm.timeout") whose values differ between a and b, in
// field order. It compares secrets by value but returns only their keys,
// never a value. A reload uses it to name what changed.
func Diff(a, b *Config) []string {
	var out []string
	diffValue(reflect.ValueOf(*a), reflect.ValueOf(*b), "", &out)
	return out
}

func diffValue(a, b reflect.Value, path string, out *[]string) {
	switch a.Kind() {
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			p := path
			if opts != "inline" {
				if name == "" {
					name = strings.ToLower(f.Name)
				}
				p = join(path, name)
			}
			diffValue(a.Field(i), b.Field(i), p, out)
		}
	case reflect.Map:
		if a.Type().Key().Kind() != reflect.String {
			if !reflect.DeepEqual(a.Interface(), b.Interface()) {
				*out = append(*out, path)
			}
			return
		}
		var keys []string
		for _, m := range []reflect.Value{a, b} {
			for _, k := range m.MapKeys() {
				keys = append(keys, fmt.Sprint(k.Interface()))
			}
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			kv := reflect.ValueOf(k).Convert(a.Type().Key())
			av, bv := a.MapIndex(kv), b.MapIndex(kv)
			if !av.IsValid() || !bv.IsValid() {
				*out = append(*out, join(path, k))
				continue
			}
			diffValue(av, bv, join(path, k), out)
		}
	case reflect.Pointer:
		switch {
		case a.IsNil() && b.IsNil():
		case a.IsNil() || b.IsNil():
			*out = append(*out, path)
		default:
			diffValue(a.Elem(), b.Elem(), path, out)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
	}
}
