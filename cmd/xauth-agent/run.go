package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/login"
)

// version is set by the linker (-X main.version=...).
var version = "dev"

const usageHead = `Usage: xauth-agent [flags]

xauth-agent logs this machine into HashiCorp Vault with its AWS identity
(Vault's aws auth method, iam or ec2 type) and writes the token to sinks.

  xauth-agent --config /etc/xauth-agent/agent.hcl          # daemon: renew, re-login, SIGHUP reloads
  xauth-agent --once --config /etc/xauth-agent/agent.hcl   # log in once, write the sinks, exit
  xauth-agent diagnose --config /etc/xauth-agent/agent.hcl # walk the chain, explain what fails
  xauth-agent token | status | wait [--socket PATH]        # ask the running agent (sink "socket")
  xauth-agent exec --config /etc/xauth-agent/agent.hcl -- CMD ARGS  # run CMD with a fresh VAULT_TOKEN
  export VAULT_TOKEN=$(xauth-agent --once --vault-addr https://vault:8200 --role vault-role)

Flags:
`

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// options are the parsed command line.
type options struct {
	configPath string
	once       bool
	output     string
	overrides  config.Overrides
	stderr     io.Writer // where the logs go
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("xauth-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{stderr: stderr}
	var sinkFiles stringList
	set := map[string]*string{}
	str := func(name, usage string) { set[name] = fs.String(name, "", usage) }
	fs.StringVar(&o.configPath, "config", "", "HCL config `file`")
	fs.BoolVar(&o.once, "once", false, "log in once, write every sink, and exit")
	fs.StringVar(&o.output, "output", "token", "with --once and no sink: print the token as token|json|env")
	str("vault-addr", "Vault address (overrides VAULT_ADDR and vault.address)")
	str("role", "Vault role on the aws auth mount")
	str("auth-type", "aws auth type: iam|ec2 (default iam)")
	str("nonce-file", "ec2: file that keeps the client nonce across restarts (default "+config.DefaultNonceFile+")")
	str("mount", "aws auth mount path (default aws)")
	str("header-value", "X-Vault-AWS-IAM-Server-ID value Vault expects")
	str("sts-region", "region the GetCallerIdentity request is signed for (default us-east-1)")
	str("sts-endpoint", "STS endpoint the request is signed for (default https://sts.amazonaws.com)")
	str("assume-role-arn", "iam: sign with this IAM role, assumed with the AWS SDK's credentials (its STS client follows AWS_REGION and AWS_ENDPOINT_URL_STS)")
	fs.Var(&sinkFiles, "sink-file", "write the token to this `path` (repeatable)")
	str("sink-format", "format of --sink-file sinks: token|json|env")
	str("log-level", "debug|info|warn|error")
	str("log-format", "json|console")
	imdsV2 := fs.Bool("imds-v2-only", false, "never fall back to IMDSv1")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\n"+exitCodesHelp)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if *showVersion {
		return nil, errVersion
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	pick := func(name string) *string {
		if given[name] {
			return set[name]
		}
		return nil
	}
	o.overrides = config.Overrides{
		VaultAddr: pick("vault-addr"), Role: pick("role"), Mount: pick("mount"), HeaderValue: pick("header-value"),
		STSRegion: pick("sts-region"), STSEndpoint: pick("sts-endpoint"), LogLevel: pick("log-level"),
		LogFormat: pick("log-format"), SinkFiles: sinkFiles, SinkFormat: pick("sink-format"),
		AuthType: pick("auth-type"), NonceFile: pick("nonce-file"), AssumeRoleARN: pick("assume-role-arn"),
	}
	if given["imds-v2-only"] {
		o.overrides.IMDSv2Only = imdsV2
	}
	switch o.output {
	case "token", "json", "env":
	default:
		return nil, fmt.Errorf("--output %q: use token, json or env", o.output)
	}
	return o, nil
}

var errVersion = errors.New("version requested")

// subcommands are the commands named by the first argument; without one,
// xauth-agent runs the agent (--once or the daemon).
var subcommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
	"diagnose": runDiagnose,
	"exec":     runExec,
	"validate": runValidate,
	"convert":  runConvert,
	"token":    withStdin(runTokenCmd),
	"status":   withStdin(runStatusCmd),
	"wait":     withStdin(runWaitCmd),
}

func withStdin(f func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int) func(context.Context, []string, io.Writer, io.Writer) int {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return f(ctx, args, os.Stdin, stdout, stderr)
	}
}

// loadConfig is the configuration check that startup, SIGHUP and validate
// share, so that validate passes exactly what startup accepts: config.Load
// (file, environment, flags, every setting checked, sink owners and groups
// resolved on this host, sink paths distinct), then the Vault client's TLS
// files read as the client will read them. It touches neither the network
// nor the sink directories. Its errors wrap config.ErrInvalid (exit 2).
func loadConfig(o *options) (*config.Config, error) {
	cfg, err := config.Load(o.configPath, os.LookupEnv, o.overrides)
	if err != nil {
		return nil, err
	}
	if _, err := login.NewVaultClient(cfg.Vault); err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return cfg, nil
}

// loadAgent runs the config pipeline and builds the logger (on stderr,
// which o carries), logging the config's warnings.
func loadAgent(o *options) (*config.Config, *zap.Logger, zap.AtomicLevel, error) {
	cfg, err := loadConfig(o)
	if err != nil {
		return nil, nil, zap.AtomicLevel{}, fmt.Errorf("configuration: %w", err)
	}
	log, level, err := newLogger(cfg.Log, o.stderr)
	if err != nil {
		return nil, nil, level, err
	}
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	return cfg, log, level, nil
}

// run is the whole command; main only wires the process to it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if sub, ok := subcommands[args[0]]; ok {
			return sub(ctx, args[1:], stdout, stderr)
		}
	}
	o, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errVersion):
		fmt.Fprintln(stdout, "xauth-agent", version)
		return exitOK
	case err != nil:
		fmt.Fprintln(stderr, "xauth-agent:", err)
		return exitUsage
	}
	cfg, log, level, err := loadAgent(o)
	if err != nil {
		fmt.Fprintln(stderr, "xauth-agent:", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	if cfg.ExitAfterAuth { // a Vault Agent config's exit_after_auth
		o.once = true
	}
	if !o.once {
		return runDaemon(ctx, o, cfg, level, log, stderr)
	}
	return runOnce(ctx, cfg, o.output, stdout, stderr, log)
}
