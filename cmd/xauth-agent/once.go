package main

import (
	"context"
	"errors"
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
func runOnce(ctx context.Context, cfg *config.Config, output string, stdout io.Writer, log *zap.Logger) error {
	if cfg.Socket != nil {
		log.Warn("sink \"socket\" is served by the daemon only; --once skips it", zap.String("path", cfg.Socket.Path))
	}
	if cfg.Health.Address != "" {
		log.Warn("the health listener is served by the daemon only; --once skips it", zap.String("address", cfg.Health.Address))
	}
	fs := newFileSinks(ctx, log, nil)
	sinks, err := fs.checkedSinks(cfg)
	if err != nil {
		return err
	}
	tok, err := loginOnce(ctx, cfg, fs, sinks, log)
	fs.wait() // the on_change runs of the sinks written
	if err != nil || len(sinks) > 0 {
		return err
	}
	b, err := sink.Encode(output, tok)
	if err != nil {
		return err
	}
	if output == config.FormatToken {
		b = append(b, '\n')
	}
	_, _ = stdout.Write(b)
	return nil
}

// loginOnce logs in once and writes the token to every sink (--once, exec
// --once), wrapping through the login's client where a sink wraps (fs). A
// sink that fails does not keep the others from the token; the error is of
// the kind failure.Sink then.
func loginOnce(ctx context.Context, cfg *config.Config, fs *fileSinks, sinks []sink.Sink, log *zap.Logger) (token.Token, error) {
	vc, auth, err := newLogin(ctx, cfg, log)
	if err != nil {
		return token.Token{}, err
	}
	fs.client.Store(vc)
	issued := time.Now()
	secret, err := auth.Login(ctx)
	if err != nil {
		return token.Token{}, err
	}
	tok := token.Of(secret, issued)
	var errs []error
	for _, s := range sinks {
		errs = append(errs, s.Write(ctx, tok))
	}
	return tok, failure.Mark(failure.Sink, errors.Join(errs...))
}

// newLogin builds the Vault client, loads the AWS SDK's configuration and
// builds the login of cfg.Auth.Type: ec2 (the signed instance identity
// document and the nonce file) or iam (signed GetCallerIdentity).
func newLogin(ctx context.Context, cfg *config.Config, log *zap.Logger) (*api.Client, renew.Authenticator, error) {
	vc, err := vault.NewClient(cfg.Vault, cfg.Lifecycle, log.Named("vault"))
	if err != nil {
		return nil, nil, usageError(err)
	}
	a, err := login.LoadAWS(ctx, cfg.Auth)
	if err != nil {
		return nil, nil, err
	}
	lg := log.Named("login")
	if cfg.Auth.Type == "ec2" {
		return vc, login.NewEC2(vc, a.IMDS, cfg.Auth, lg), nil
	}
	if r := a.AssumeRole; r != nil {
		lg.Info("aws credentials: assuming a role with the AWS SDK's credentials", zap.String("role_arn", r.ARN),
			zap.String("session_name", r.SessionName), zap.Duration("duration", r.Duration),
			zap.String("sts_client_region", r.Region), zap.String("sts_client_endpoint", r.Endpoint))
	}
	return vc, login.New(vc, a.Credentials, cfg.Auth, time.Now, lg), nil
}
