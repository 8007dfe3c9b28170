package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/login"
	"github.com/xauth-agent/xauth-agent/internal/renew"
	"github.com/xauth-agent/xauth-agent/internal/sink"
	"github.com/xauth-agent/xauth-agent/internal/token"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// runOnce logs in once and writes every sink (or stdout when there is
// none). Sinks are checked before the login, and a failed login never
// touches them.
func runOnce(ctx context.Context, cfg *config.Config, output string, stdout, stderr io.Writer, log *zap.Logger) int {
	sinks, err := buildSinks(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "xauth-agent:", err)
		return failure.ExitUsage
	}
	if cfg.Socket != nil {
		log.Warn("sink \"socket\" is served by the daemon only; --once skips it", zap.String("path", cfg.Socket.Path))
	}
	for _, s := range sinks {
		if err := s.Check(); err != nil {
			fmt.Fprintln(stderr, "xauth-agent:", err)
			return failure.ExitSink
		}
	}
	vc, err := vault.NewClient(cfg.Vault)
	if err != nil {
		fmt.Fprintln(stderr, "xauth-agent:", err)
		return failure.ExitUsage
	}
	client, err := authenticator(ctx, cfg, vc, log)
	if err != nil {
		return fail(stderr, err)
	}
	issued := time.Now()
	secret, err := client.Login(ctx)
	if err != nil {
		return fail(stderr, err)
	}
	tok := token.Of(secret, issued)
	if len(sinks) == 0 {
		b, err := sink.Encode(output, tok)
		if err != nil {
			return fail(stderr, err)
		}
		if output == config.FormatToken {
			b = append(b, '\n')
		}
		_, _ = stdout.Write(b)
		return failure.ExitOK
	}
	code := failure.ExitOK
	for _, s := range sinks {
		if err := s.Write(ctx, tok); err != nil {
			fmt.Fprintln(stderr, "xauth-agent:", err)
			code = failure.ExitSink
		}
	}
	return code
}

// authenticator builds the login client of cfg.Auth.Type: ec2 (the signed
// instance identity document and the nonce file) or iam (signed
// GetCallerIdentity).
func authenticator(ctx context.Context, cfg *config.Config, vc *api.Client, log *zap.Logger) (renew.Authenticator, error) {
	if cfg.Auth.Type == "ec2" {
		md, err := login.NewIMDS(ctx, cfg.Auth.IMDSv2Only)
		if err != nil {
			return nil, err
		}
		return login.NewEC2(vc, md, cfg.Auth, log.Named("login")), nil
	}
	creds, err := login.AWSCredentials(ctx, cfg.Auth.IMDSv2Only)
	if err != nil {
		return nil, err
	}
	return login.New(vc, creds, cfg.Auth, time.Now, log.Named("login")), nil
}

func buildSinks(cfg *config.Config, log *zap.Logger) ([]sink.Sink, error) {
	var sinks []sink.Sink
	for _, fs := range cfg.Sinks {
		f, err := sink.NewFile(sink.FileOptions{Path: fs.Path, Mode: fs.Mode, UID: fs.UID, GID: fs.GID, Format: fs.Format}, log.Named("sink.file"))
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, f)
	}
	return sinks, nil
}

// fail prints a login-path error and maps it to its exit code.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "xauth-agent:", err)
	return failure.Of(err).ExitCode()
}
