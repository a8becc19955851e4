//go:build race

package trace

// raceEnabled is whether the race detector is on; the scale tests read
// less under it, as it is slow.
const raceEnabled = true
