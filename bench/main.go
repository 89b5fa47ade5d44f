// Command bench measures Crossroads side by side with what a user would pick
// instead, on the same machine in the same run: absolute figures mean little
// on a shared machine, ratios do. It is its own module so that the app never
// depends on the peers it is measured against.
//
//	cd bench && go run . stream [--json] [--redis-url URL] [--duration D]
//	cd bench && go run . web    [--json] [--duration D]
//	cd bench && go run . lab    [--json] [--redis-url URL] [--duration D]
//	cd bench && go run . workshop [--json] [--participants N] [--signups N]
//
// Every run is bounded in time and talks to loopback only. Without
// --redis-url a private redis-server is started on a free loopback port (so
// no other user of a shared server skews the figures) and stopped at the end.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
)

// common are the flags every sub-command takes.
type common struct {
	json     bool
	redisURL string
	cpuProf  string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The app and the peers log at info; a benchmark prints its table only.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	var c common
	root := &cobra.Command{
		Use:           "bench",
		Short:         "Crossroads benchmarks, side by side with the alternatives",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVar(&c.json, "json", false, "print the results as JSON instead of a table")
	root.PersistentFlags().StringVar(&c.redisURL, "redis-url", "",
		"Redis to measure on (loopback only; keys under a bench prefix, deleted after); empty starts a private redis-server")
	root.PersistentFlags().StringVar(&c.cpuProf, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if c.cpuProf == "" {
			return nil
		}
		f, err := os.Create(c.cpuProf)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		return pprof.StartCPUProfile(f)
	}
	root.PersistentPostRun = func(*cobra.Command, []string) { pprof.StopCPUProfile() }
	root.AddCommand(streamCmd(&c), webCmd(&c), labCmd(&c), workshopCmd(&c))
	return root
}
