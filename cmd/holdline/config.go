package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sidecar"
)

func newConfigCmd(e env) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Work with holdline configuration files",
	}
	c.AddCommand(&cobra.Command{
		Use:   "validate FILE",
		Short: "Check a config file; print every problem, one per line, naming its key",
		Long: `Check a config file the way holdline serve --config FILE checks it before it
opens anything: strict YAML (an unknown key is an error), ${ENV_VAR}
expansion, defaults, then every check serve runs (each config section's own
checks and those of the CRM adapter the file selects). A file this accepts,
serve accepts; what serve may still fail on is the world: a port taken, a
data_dir another process holds, missing cloud credentials.

Exit 0 when the file is good. Exit 1 with every problem on its own line, each
starting with the key's path, e.g.
  dependencies.crm.timout: line 12: unknown key (did you mean "timeout"?)`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return validateConfig(e, args[0])
		},
	})
	return c
}

// validateConfig loads file and runs sidecar.Check on it: what serve runs
// on a --config file before sidecar.New opens anything.
func validateConfig(e env, file string) error {
	cfg, err := config.LoadFile(file, e.getenv)
	if err == nil {
		err = sidecar.Check(cfg)
	}
	if err == nil {
		fmt.Fprintf(e.stdout, "%s: ok\n", file)
		return nil
	}
	if !errors.Is(err, config.ErrInvalid) {
		return err
	}
	var lines []string
	for _, p := range problems(err) {
		lines = append(lines, p.Error())
	}
	return &exitError{code: 1, msg: fmt.Sprintf("%s: %d problem(s):\n%s", file, len(lines), strings.Join(lines, "\n"))}
}

// problems flattens the joined errors Load and Check return.
func problems(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	return []error{err}
}
