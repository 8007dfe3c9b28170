package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/login"
	"github.com/xauth-agent/xauth-agent/internal/renew"
	"github.com/xauth-agent/xauth-agent/internal/sink"
)

// runOnce logs in once and writes every sink (or stdout when there is
// none). Sinks are checked before the login, and a failed login never
// touches them.
func runOnce(ctx context.Context, cfg *config.Config, output string, stdout, stderr io.Writer, log *zap.Logger) int {
	sinks, err := buildSinks(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "xauth-agent:", err)
		return exitUsage
	}
	if cfg.Socket != nil {
		log.Warn("sink \"socket\" is served by the daemon only; --once skips it", zap.String("path", cfg.Socket.Path))
	}
	for _, s := range sinks {
		if err := s.Check(); err != nil {
			fmt.Fprintln(stderr, "xauth-agent:", err)
			return exitSink
		}
	}
	vc, err := login.NewVaultClient(cfg.Vault)
	if err != nil {
		fmt.Fprintln(stderr, "xauth-agent:", err)
		return exitUsage
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
	tok := login.TokenOf(secret, issued)
	if len(sinks) == 0 {
		b, err := sink.Encode(output, tok)
		if err != nil {
			return fail(stderr, err)
		}
		if output == config.FormatToken {
			b = append(b, '\n')
		}
		_, _ = stdout.Write(b)
		return exitOK
	}
	code := exitOK
	for _, s := range sinks {
		if err := s.Write(ctx, tok); err != nil {
			fmt.Fprintln(stderr, "xauth-agent:", err)
			code = exitSink
		}
	}
	return code
}

// authenticator loads the AWS SDK's configuration and builds the login
// client of cfg.Auth.Type: ec2 (the signed instance identity document and
// the nonce file) or iam (signed GetCallerIdentity).
func authenticator(ctx context.Context, cfg *config.Config, vc *api.Client, log *zap.Logger) (renew.Authenticator, error) {
	a, err := login.LoadAWS(ctx, cfg.Auth)
	if err != nil {
		return nil, err
	}
	lg := log.Named("login")
	if cfg.Auth.Type == "ec2" {
		return login.NewEC2(vc, a.IMDS, cfg.Auth, time.Now, lg), nil
	}
	if r := a.AssumeRole; r != nil {
		lg.Info("aws credentials: assuming a role with the AWS SDK's credentials", zap.String("role_arn", r.ARN),
			zap.String("session_name", r.SessionName), zap.Duration("duration", r.Duration),
			zap.String("sts_client_region", r.Region), zap.String("sts_client_endpoint", r.Endpoint))
	}
	return login.New(vc, a.Credentials, cfg.Auth, time.Now, lg), nil
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
	switch {
	case errors.Is(err, login.ErrCredentials):
		return exitCredentials
	case errors.Is(err, login.ErrNonceMismatch):
		return exitNonceMismatch
	case errors.Is(err, login.ErrRefused):
		return exitRefused
	case errors.Is(err, login.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return exitUnreachable
	}
	return exitRuntime
}
