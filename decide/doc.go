// Package decide applies the five-step decision framework to a team's answers
// and writes the result as an Architecture Decision Record.
//
// The rules are pure functions of the answers and the questionnaire's text
// (Load, from the content the command passes in), so the same answers always
// produce the same recommendation and byte-identical records, whether they
// come from the web wizard or the command line. The questionnaire is also
// the answers' schema (schema.go); the wizard's unfinished answers are kept
// in Redis by Drafts.
package decide
