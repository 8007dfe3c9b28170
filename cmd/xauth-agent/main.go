// Command xauth-agent gets a Vault token for an EC2 instance through Vault's
// AWS auth method and writes it where applications read it.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	args := os.Args[1:]
	// Installed as a Vault CLI token_helper (a symlink named
	// xauth-agent-token-helper), it answers get/store/erase.
	if filepath.Base(os.Args[0]) == "xauth-agent-token-helper" {
		args = append([]string{"token"}, args...)
	}
	code := run(ctx, args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
