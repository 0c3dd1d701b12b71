// Command modelfleet-router sits between an LLMDeployment's Service and its engine pods: it holds
// requests while no replica is ready, routes each to the replica with the fewest requests in flight (or,
// opt in, by the prompt's prefix), relays streamed answers untouched, and drains on SIGTERM.
// docs/router.md says what it does and why; docs/decisions.md why it is Go.
package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run returns the exit code: 0 after a drain, 1 when the router cannot serve, 2 for a wrong command line.
func run(args []string) int {
	cfg, err := parseConfig(args)
	if err != nil {
		slog.Error("bad command line", "err", err)
		return 2
	}
	userLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		slog.Error("cannot listen", "addr", cfg.Listen, "err", err)
		return 1
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		slog.Error("cannot listen", "addr", cfg.AdminListen, "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := serve(ctx, cfg, userLn, adminLn, net.DefaultResolver); err != nil {
		slog.Error("router failed", "err", err)
		return 1
	}
	return 0
}
