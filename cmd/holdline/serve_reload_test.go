package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestServeReloadsOnSIGHUP: SIGHUP does not end serve; it reloads (the
// secret files re-read) and says so in the log.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	d := startDev(t)
	// serve registered for SIGHUP before it printed its banner, so the
	// signal reaches it (and any other serve of this process) rather than
	// ending the test binary.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reload log line", func() (bool, string) {
		return strings.Contains(d.stderr.String(), "config reload"), d.stderr.String()
	})
	select {
	case err := <-d.done:
		t.Fatalf("serve ended on SIGHUP: %v", err)
	default:
	}
}
