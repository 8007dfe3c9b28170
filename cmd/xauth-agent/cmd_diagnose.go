package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/diagnose"
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
	help        bool
}

// splitDiagnoseFlags takes diagnose's own flags out of args and returns the
// rest, in order, for parseFlags. It accepts -name and --name, with "=value"
// or the value as the next argument. It does not know which of parseFlags'
// flags take a value, so it scans every argument up to "--": a value of
// another flag spelled like one of diagnose's flags would be taken for it.
func splitDiagnoseFlags(args []string) (diagnoseOptions, []string, error) {
	o := diagnoseOptions{output: "text"}
	own := map[string]*string{"output": &o.output, "aws-sts-endpoint": &o.stsEndpoint, "aws-iam-endpoint": &o.iamEndpoint}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") { // a value of one of parseFlags' flags
			rest = append(rest, a)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, value, hasValue := strings.Cut(name, "=")
		if name == "h" || name == "help" {
			o.help = true
			continue
		}
		dst, ok := own[name]
		if !ok {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return o, nil, fmt.Errorf("flag needs an argument: --%s", name)
			}
			i++
			value = args[i]
		}
		*dst = value
	}
	switch o.output {
	case "text", "json":
	default:
		return o, nil, fmt.Errorf("--output %q: use text or json", o.output)
	}
	for name, v := range map[string]string{"aws-sts-endpoint": o.stsEndpoint, "aws-iam-endpoint": o.iamEndpoint} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, nil, fmt.Errorf("--%s %q: use an http:// or https:// URL with a host", name, v)
		}
	}
	return o, rest, nil
}

// runDiagnose is `xauth-agent diagnose`: args are the arguments after the
// word "diagnose".
func runDiagnose(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	do, rest, err := splitDiagnoseFlags(args)
	if err != nil {
		fmt.Fprintln(stderr, "xauth-agent diagnose:", err)
		return exitUsage
	}
	if do.help {
		fmt.Fprint(stderr, diagnoseUsage)
		return exitOK
	}
	o, err := parseFlags(rest, stderr)
	switch {
	case errors.Is(err, errVersion):
		fmt.Fprintln(stdout, "xauth-agent", version)
		return exitOK
	case err != nil:
		fmt.Fprintln(stderr, "xauth-agent diagnose:", err)
		return exitUsage
	case o.once || len(o.overrides.SinkFiles) > 0 || o.overrides.SinkFormat != nil:
		fmt.Fprintln(stderr, "xauth-agent diagnose: --once, --sink-file and --sink-format do not apply to diagnose, which writes no token")
		return exitUsage
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
		if log, _, err := newLogger(cfg.Log, stderr); err == nil {
			opts.Log = log.Named("login")
			defer func() { _ = log.Sync() }()
		}
	} else {
		opts.Log = zap.NewNop()
	}
	rep := diagnose.Run(ctx, opts)
	if do.output == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "xauth-agent diagnose: write the report:", err)
		return exitRuntime
	}
	return diagnoseExitCode(rep)
}

// diagnoseExitCode maps the first failed step to the exit code --once uses
// for the same kind of problem.
func diagnoseExitCode(rep *diagnose.Report) int {
	f, failed := rep.FirstFailure()
	if !failed {
		return exitOK
	}
	switch f.Kind {
	case diagnose.KindConfig:
		return exitUsage
	case diagnose.KindCredentials:
		return exitCredentials
	case diagnose.KindUnreachable:
		return exitUnreachable
	case diagnose.KindRefused:
		return exitRefused
	}
	return exitRuntime
}
