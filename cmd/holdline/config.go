package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/holdline/holdline/internal/config"
)

func newConfigCmd(e env) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Work with holdline configuration files",
	}
	c.AddCommand(&cobra.Command{
		Use:   "validate FILE",
		Short: "Check a config file; print every problem, one per line, naming its key",
		Long: `Check a config file the way holdline serve would read it: strict YAML (an
unknown key is an error), ${ENV_VAR} expansion, defaults, then validation.

Exit 0 when the file is good. Exit 1 with every problem on its own line, each
starting with the key's path, e.g.
  dependencies.crm.timout: line 12: unknown key (did you mean "timeout"?)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := config.LoadFile(args[0], e.getenv)
			if err == nil {
				fmt.Fprintf(e.stdout, "%s: ok\n", args[0])
				return nil
			}
			if !errors.Is(err, config.ErrInvalid) {
				return err
			}
			var lines []string
			for _, p := range problems(err) {
				lines = append(lines, p.Error())
			}
			return &exitError{code: 1, msg: fmt.Sprintf("%s: %d problem(s):\n%s", args[0], len(lines), strings.Join(lines, "\n"))}
		},
	})
	return c
}

// problems flattens the joined errors Load returns.
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
