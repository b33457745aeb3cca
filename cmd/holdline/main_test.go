package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The real-binary tests (crash, fleet, recordings) share one build of
// holdline and of holdline-sim (the simulators' own binary), made once per
// package run by whichever asks first.
var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildSim  string
	buildErr  error
	buildOut  []byte
)

func TestMain(m *testing.M) {
	flag.Parse()
	// A whole-package run (no -run, no -short) needs the binary: start
	// building it now, so that the build overlaps the tests that run
	// before the first real-binary test asks for it.
	if !testing.Short() && flag.Lookup("test.run").Value.String() == "" {
		go buildOnce.Do(build)
	}
	code := m.Run()
	buildOnce.Do(func() {}) // wait for a background build before removing it
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// build builds both binaries into a fresh temporary directory.
func build() {
	if buildDir, buildErr = os.MkdirTemp("", "holdline-bin-"); buildErr != nil {
		return
	}
	buildBin, buildSim = filepath.Join(buildDir, "holdline"), filepath.Join(buildDir, "holdline-sim")
	buildOut, buildErr = exec.Command("go", "build", "-o", buildDir+string(filepath.Separator), ".", "../holdline-sim").CombinedOutput()
}

// buildHoldline returns the path of the binary, building it first unless
// that is done or under way.
func buildHoldline(t *testing.T) string {
	t.Helper()
	buildOnce.Do(build)
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return buildBin
}

// buildHoldlineSim returns the path of the holdline-sim binary, built with
// holdline's.
func buildHoldlineSim(t *testing.T) string {
	t.Helper()
	buildHoldline(t)
	return buildSim
}
