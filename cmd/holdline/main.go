// Command holdline is the holdline sidecar and its operator's tool: serve,
// config validate, version (and, as they land, status, outbox,
// breaker, failover, drill).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// env is what every command may touch of the outside world, so the whole
// program can run in-process in tests.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// run executes the command line args (args[0] is the program name).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root := newRootCmd(env{getenv: getenv, stdout: stdout, stderr: stderr})
	root.SetArgs(args[1:])
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// exitError carries a specific exit code (e.g. `holdline status` answers 1
// when degraded, 2 when unreachable). Its message, if any, is printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if e, ok := errors.AsType[*exitError](err); ok {
		if e.msg != "" {
			fmt.Fprintln(stderr, e.msg)
		}
		return e.code
	}
	fmt.Fprintln(stderr, "holdline:", err)
	return 1
}
