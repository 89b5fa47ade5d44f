//go:build !race

package labs

const raceEnabled = false
