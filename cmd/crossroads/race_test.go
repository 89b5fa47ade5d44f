//go:build race

package main

// raceEnabled is true under the race detector, which slows every round trip
// several times and unevenly: the scenarios' timing claims are checked
// without it (a step of .ci/run of its own).
const raceEnabled = true
