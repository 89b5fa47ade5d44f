package main

import "github.com/spf13/cobra"

// newDecideCmd is a placeholder until the decision questionnaire lands.
func newDecideCmd() *cobra.Command {
	return &cobra.Command{Use: "decide", Short: "Write an Architecture Decision Record (not yet available)", RunE: notYet("crossroads decide"), DisableFlagParsing: true}
}
