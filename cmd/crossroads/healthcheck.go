package main

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// newHealthcheckCmd probes a running server. Container images without curl
// (the distroless one we ship) use it as their HEALTHCHECK.
func newHealthcheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if a running Crossroads answers its health endpoint",
		Args:  noArgs,
	}
	target := cmd.Flags().String("url", "http://127.0.0.1:8080/healthz", "endpoint to probe: /healthz (process up) or /readyz (Redis reachable)")
	timeout := cmd.Flags().Duration("timeout", 3*time.Second, "how long to wait for an answer")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		u, err := url.Parse(*target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--url: %q is not an http(s) URL", *target)
		}
		if *timeout <= 0 {
			return usagef("--timeout: must be positive, got %s", *timeout)
		}
		c := &http.Client{Timeout: *timeout}
		res, err := c.Get(u.String())
		if err != nil {
			return fmt.Errorf("probe %s: %w", u, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("probe %s: status %d", u, res.StatusCode)
		}
		fmt.Fprintln(cmd.OutOrStdout(), "ok")
		return nil
	}
	return cmd
}
