//go:build race

package secret_test

// raceEnabled: under the race detector sync.Pool drops pooled objects at
// random, so allocation counts say nothing.
const raceEnabled = true
