package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// reloadOnSIGHUP calls each fn on SIGHUP until ctx ends: the credential
// files and the TLS certificate are re-read without a restart; a reload
// that fails keeps the previous configuration.
func reloadOnSIGHUP(ctx context.Context, log *slog.Logger, fns ...func() error) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				for _, fn := range fns {
					if err := fn(); err != nil {
						log.Error("SIGHUP: reload failed; keeping the previous configuration", "err", err)
					}
				}
				log.Info("SIGHUP: configuration reloaded")
			}
		}
	}()
}
