package main

import "github.com/spf13/cobra"

// newWorkerCmd is a placeholder until the lab engine lands.
func newWorkerCmd() *cobra.Command {
	return &cobra.Command{Use: "worker", Short: "Run lab consumers alone (not yet available)", RunE: notYet("crossroads worker"), DisableFlagParsing: true}
}
