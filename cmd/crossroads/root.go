package main

import (
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "crossroads",
		Short: "Learn, try and decide between synchronous and asynchronous communication",
		Long: `Crossroads teaches when one service should wait for another (synchronous)
and when it should hand the work off (asynchronous): lessons built on two
analogies, a signup lab you can break on purpose, and a questionnaire that
writes an Architecture Decision Record.

Redis: with REDIS_URL unset an embedded, in-memory Redis starts inside the
process; set REDIS_URL=redis://host:6379/0 to use a real Redis 7 or newer.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.PersistentFlags().String("log-level", envOr("CROSSROADS_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env CROSSROADS_LOG_LEVEL)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		level, _ := cmd.Flags().GetString("log-level")
		var l slog.Level
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return usagef("--log-level: %q is not one of debug, info, warn, error", level)
		}
		slog.SetDefault(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: l})))
		return nil
	}
	root.AddCommand(newServeCmd(), newVersionCmd(), newHealthcheckCmd(), newLabCmd(), newDecideCmd(), newWorkerCmd())
	return root
}

// noArgs rejects stray arguments, including unknown sub-commands, as a usage
// error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return usagef("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}
