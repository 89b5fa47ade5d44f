// Package decide applies the five-step decision framework to a team's answers
// and writes the result as an Architecture Decision Record.
//
// The rules are pure functions so the same answers always produce the same
// recommendation and byte-identical records, whether they come from the web
// wizard or the command line.
package decide
