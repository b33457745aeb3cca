//go:build race

package capture_test

// raceEnabled: the race detector slows streaming tenfold; the 256 MiB
// memory test then runs through the real binary (cmd/holdline) instead.
const raceEnabled = true
