package main

import "github.com/spf13/cobra"

// The commands below are promised by the design and arrive with their issues.

func newLabCmd() *cobra.Command {
	return &cobra.Command{Use: "lab", Short: "Run the signup lab headless (not yet available)", RunE: notYet("crossroads lab"), DisableFlagParsing: true}
}

func newDecideCmd() *cobra.Command {
	return &cobra.Command{Use: "decide", Short: "Write an Architecture Decision Record (not yet available)", RunE: notYet("crossroads decide"), DisableFlagParsing: true}
}

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{Use: "worker", Short: "Run lab consumers alone (not yet available)", RunE: notYet("crossroads worker"), DisableFlagParsing: true}
}
