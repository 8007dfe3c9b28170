package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/diagnose"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

const diagnoseUsage = `Usage: xauth-agent diagnose [--config FILE | flags] [--output text|json]

Walks the chain an iam login depends on and prints a checklist, each step with
what it saw and, when something is wrong, what to change: the configuration,
IMDS and its IMDSv2 token, the AWS credentials, the caller identity
(sts:GetCallerIdentity) and its full ARN with any IAM path (iam:GetRole), what
the login is signed for, Vault (TLS, seal, clock), the auth mount, and a real
login whose token is revoked at once. With VAULT_TOKEN set to a token that may
read auth/<mount>/role/<role> and auth/<mount>/config/client, it also checks
the role's bound_iam_principal_arn patterns and the mount's server ID header,
STS endpoint and region against this agent's. It never prints a token or an
AWS secret.

  xauth-agent diagnose --config /etc/xauth-agent/agent.hcl
  VAULT_TOKEN=... xauth-agent diagnose --vault-addr https://vault:8200 --role web --output json

It takes the configuration flags of xauth-agent itself (see xauth-agent --help),
and these:

  --output text|json        text: a checklist (default); json: one document
  --aws-sts-endpoint URL    send the direct sts:GetCallerIdentity there instead
                            of to the endpoint it is signed for, keeping the
                            signed Host (tests, air-gapped proxies)
  --aws-iam-endpoint URL    the same for iam:GetRole (signed for
                            https://iam.amazonaws.com, us-east-1)

Exit codes:
  0  no step failed (warnings allowed)
  1  a step failed in an unexpected way
  2  usage or configuration error (including auth type ec2: diagnose covers iam)
  3  no AWS credentials (from the AWS SDK's chain, or assume_role_arn)
  4  Vault unreachable, sealed or failing
  5  Vault refuses, or would refuse, the login (mount, role, binding, header,
     region, or STS refusing the signature)
When several steps fail, the code is the first failed step's.
`

// diagnoseOptions are the flags only diagnose has.
type diagnoseOptions struct {
	output      string
	stsEndpoint string
	iamEndpoint string
}

// diagnoseArgs parses diagnose's command line: the agent's flags
// (agentFlags) but --once, --sink-file and --sink-format, which do not
// apply, and diagnose's own.
func diagnoseArgs(args []string, s streams) (diagnoseOptions, *options, error) {
	var do diagnoseOptions
	fs := flag.NewFlagSet("xauth-agent diagnose", flag.ContinueOnError)
	fs.StringVar(&do.output, "output", "text", "")
	fs.StringVar(&do.stsEndpoint, "aws-sts-endpoint", "", "")
	fs.StringVar(&do.iamEndpoint, "aws-iam-endpoint", "", "")
	o := agentFlags(fs)
	if err := o.parse(fs, args, s, s.stderr, helpText(diagnoseUsage)); err != nil {
		return do, nil, err
	}
	switch {
	case o.once || o.overrides["sink-file"] != nil || o.overrides["sink-format"] != nil:
		return do, nil, usageError(errors.New("--once, --sink-file and --sink-format do not apply to diagnose, which writes no token"))
	case do.output != "text" && do.output != "json":
		return do, nil, usageError(fmt.Errorf("--output %q: use text or json", do.output))
	}
	for name, v := range map[string]string{"aws-sts-endpoint": do.stsEndpoint, "aws-iam-endpoint": do.iamEndpoint} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return do, nil, usageError(fmt.Errorf("--%s %q: use an http:// or https:// URL with a host", name, v))
		}
	}
	return do, o, nil
}

// runDiagnose is `xauth-agent diagnose`: args are the arguments after the
// word "diagnose".
func runDiagnose(ctx context.Context, args []string, s streams) error {
	do, o, err := diagnoseArgs(args, s)
	if err != nil {
		return err
	}
	cfg, cfgErr := config.Load(o.configPath, os.LookupEnv, o.overrides)
	opts := diagnose.Options{
		Config: cfg, ConfigErr: cfgErr,
		STSEndpoint: do.stsEndpoint, IAMEndpoint: do.iamEndpoint,
		OperatorToken: os.Getenv("VAULT_TOKEN"),
	}
	// The checklist is the output; the login client logs only when asked
	// for debug.
	if cfg != nil && cfg.Log.Level == "debug" {
		if log, _, err := newLogger(cfg.Log, s.stderr); err == nil {
			opts.Log = log.Named("login")
			defer func() { _ = log.Sync() }()
		}
	} else {
		opts.Log = zap.NewNop()
	}
	rep := diagnose.Run(ctx, opts)
	if do.output == "json" {
		err = rep.WriteJSON(s.stdout)
	} else {
		err = rep.WriteText(s.stdout)
	}
	if err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return exitError{code: diagnoseExitCode(rep)}
}

// diagnoseExitCode maps the first failed step to the exit code --once uses
// for the same kind of problem.
func diagnoseExitCode(rep *diagnose.Report) int {
	f, failed := rep.FirstFailure()
	if !failed {
		return failure.ExitOK
	}
	return f.Kind.ExitCode()
}
