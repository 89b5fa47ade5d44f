package main

import "github.com/spf13/cobra"

// newLabCmd is a placeholder until the lab engine lands.
func newLabCmd() *cobra.Command {
	return &cobra.Command{Use: "lab", Short: "Run the signup lab headless (not yet available)", RunE: notYet("crossroads lab"), DisableFlagParsing: true}
}
