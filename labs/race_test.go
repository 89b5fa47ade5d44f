//go:build race

package labs

// raceEnabled is true under the race detector, which slows every round trip
// several times; timing bounds that measure our own overhead widen with it.
const raceEnabled = true
