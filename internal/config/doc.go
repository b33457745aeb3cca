// Package config holds holdline's configuration: the documented types that
// make up the YAML file, their defaults, and a strict loader that names the
// path of every problem it finds.
//
// The structs in this package are the manual: each field's doc comment says
// what the key does and what its default is. Load decodes strictly (an
// unknown key is an error naming its path), expands ${ENV_VAR} references,
// applies defaults and validates, returning every problem at once joined with
// errors.Join so `holdline config validate` can print one per line.
//
// Not a stable API: holdline is a binary, and this package serves it.
package config
