//go:build race

package affinity_test

// raceEnabled says the race detector is on: it makes sync.Pool drop
// items at random, so pooled paths allocate.
const raceEnabled = true
