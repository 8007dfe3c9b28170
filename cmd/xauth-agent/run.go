package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// version is set by the linker (-X main.version=...).
var version = "dev"

const usageHead = `Usage: xauth-agent [flags]

xauth-agent logs this machine into HashiCorp Vault with its AWS identity
(Vault's aws auth method, iam or ec2 type) and writes the token to sinks.

  xauth-agent --config /etc/xauth-agent/agent.hcl          # daemon: renew, re-login, SIGHUP reloads, SIGUSR1 renews now
  xauth-agent --once --config /etc/xauth-agent/agent.hcl   # log in once, write the sinks, exit
  xauth-agent diagnose --config /etc/xauth-agent/agent.hcl # walk the chain, explain what fails
  xauth-agent token | status | wait [--socket PATH]        # ask the running agent (sink "socket")
  xauth-agent exec --config /etc/xauth-agent/agent.hcl -- CMD ARGS  # run CMD with a fresh VAULT_TOKEN
  xauth-agent install systemd [--apply]                   # units, sysusers.d, tmpfiles.d, config skeleton
  export VAULT_TOKEN=$(xauth-agent --once --vault-addr https://vault:8200 --role vault-role)

Flags:
`

// streams are a command's standard streams.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// commands are the subcommands, named by the first argument; without one,
// xauth-agent runs the agent (--once or the daemon). Each returns nil or an
// error that carries its exit code (exitCode); run prints it.
var commands = map[string]func(ctx context.Context, args []string, s streams) error{
	"diagnose": runDiagnose,
	"exec":     runExec,
	"validate": runValidate,
	"convert":  runConvert,
	"token":    runTokenCmd,
	"status":   runStatusCmd,
	"wait":     runWaitCmd,
	"install":  runInstall,
}

// run is the whole command; main only wires the process to it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runStreams(ctx, args, streams{stdin: os.Stdin, stdout: stdout, stderr: stderr})
}

// runStreams runs the command args name and is the one place that prints
// a command's error: "xauth-agent[ command]: <error>".
func runStreams(ctx context.Context, args []string, s streams) int {
	name, cmd := "xauth-agent", runAgent
	if len(args) > 0 {
		if c, ok := commands[args[0]]; ok {
			name, cmd, args = name+" "+args[0], c, args[1:]
		}
	}
	err := cmd(ctx, args, s)
	var quiet exitError
	if err != nil && !(errors.As(err, &quiet) && quiet.err == nil) {
		fmt.Fprintf(s.stderr, "%s: %v\n", name, err)
	}
	return exitCode(err)
}

// exitError ends a command with code when no kind of failure says it (a
// child's exit status, 127, a report's verdict). With err nil, run prints
// nothing.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e exitError) Unwrap() error { return e.err }

// exitCode is the code err ends the command with: its exitError's, else
// the exit code of its kind of failure (failure.Kind), 0 for nil.
func exitCode(err error) int {
	var e exitError
	if errors.As(err, &e) {
		return e.code
	}
	return failure.Of(err).ExitCode()
}

// exitQuietly ends a command successfully without a message (after --help or
// --version).
var exitQuietly = exitError{code: failure.ExitOK}

// usageError is a bad command line: exit 2.
func usageError(err error) error { return failure.Mark(failure.Config, err) }

// parse parses args into fs, whose flags the caller defined, and is every
// command's help check: -h, -help or --help prints help to w and ends the
// command (exitQuietly); a bad flag is a usageError. Flags and operands may mix
// until a "--"; it returns the operands before it, and those after it.
func parse(fs *flag.FlagSet, args []string, w io.Writer, help func(w io.Writer)) (operands, afterDash []string, err error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for {
		switch err := fs.Parse(args); {
		case errors.Is(err, flag.ErrHelp):
			help(w)
			return nil, nil, exitQuietly
		case err != nil:
			return nil, nil, usageError(err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return operands, nil, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return operands, rest, nil
		}
		operands, args = append(operands, rest[0]), rest[1:]
	}
}

// helpWithFlags returns a help printer: head, fs's flags, then tail.
func helpWithFlags(fs *flag.FlagSet, head, tail string) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprint(w, head)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprint(w, "\n"+tail)
	}
}

// helpText returns a help printer of a fixed text.
func helpText(text string) func(io.Writer) {
	return func(w io.Writer) { fmt.Fprint(w, text) }
}

// options are the agent's flags, parsed.
type options struct {
	configPath string
	once       bool
	output     string
	overrides  config.Overrides
	stderr     io.Writer // where the logs go

	showVersion bool
	flags       func() config.Overrides // the settings' flags given (config.Flags)
}

// agentFlags is the one builder of the agent's flags (xauth-agent --help),
// which exec, validate and diagnose take too. It defines them on fs, except
// an --output fs has already (diagnose's own); finish completes the options
// after fs.Parse.
func agentFlags(fs *flag.FlagSet) *options {
	o := &options{flags: config.Flags(fs)}
	fs.StringVar(&o.configPath, "config", "", "HCL config `file`")
	fs.BoolVar(&o.once, "once", false, "log in once, write every sink, and exit")
	if fs.Lookup("output") == nil {
		fs.StringVar(&o.output, "output", "token", "with --once and no sink: print the token as token|json|env")
	}
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	return o
}

// finish completes o after fs.Parse: the overrides of the flags given, and
// --output checked. --version prints the version and ends the command.
func (o *options) finish(s streams) error {
	o.stderr = s.stderr
	if o.showVersion {
		fmt.Fprintln(s.stdout, "xauth-agent", version)
		return exitQuietly
	}
	o.overrides = o.flags()
	switch o.output {
	case "", "token", "json", "env": // "": diagnose, which has its own
	default:
		return usageError(fmt.Errorf("--output %q: use token, json or env", o.output))
	}
	return nil
}

// noOperands refuses operands where a command takes none.
func noOperands(operands []string) error {
	if len(operands) > 0 {
		return usageError(fmt.Errorf("unexpected argument %q (flags start with --)", operands[0]))
	}
	return nil
}

// parse parses the command line of a command that takes the agent's flags
// (fs, on which agentFlags defined o) and no operands; help goes to w.
func (o *options) parse(fs *flag.FlagSet, args []string, s streams, w io.Writer, help func(io.Writer)) error {
	operands, afterDash, err := parse(fs, args, w, help)
	if err == nil {
		err = noOperands(append(operands, afterDash...))
	}
	if err == nil {
		err = o.finish(s)
	}
	return err
}

// loadConfig is the configuration check that startup, SIGHUP and validate
// share, so that validate passes exactly what startup accepts: config.Load
// (file, environment, flags, every setting checked, sink owners and groups
// resolved on this host, sink paths distinct), then the Vault client's TLS
// files read as the client will read them. It touches neither the network
// nor the sink directories. Its errors are of the kind failure.Config.
func loadConfig(o *options) (*config.Config, error) {
	cfg, err := config.Load(o.configPath, os.LookupEnv, o.overrides)
	if err != nil {
		return nil, err
	}
	if _, err := vault.NewClient(cfg.Vault, cfg.Lifecycle, nil); err != nil {
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
		return nil, nil, level, usageError(err)
	}
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	return cfg, log, level, nil
}

// parseAgent parses the agent's own command line (no subcommand).
func parseAgent(args []string, s streams) (*options, error) {
	fs := flag.NewFlagSet("xauth-agent", flag.ContinueOnError)
	o := agentFlags(fs)
	return o, o.parse(fs, args, s, s.stderr, helpWithFlags(fs, usageHead, exitCodesHelp))
}

// runAgent is xauth-agent without a subcommand: --once, or the daemon.
func runAgent(ctx context.Context, args []string, s streams) error {
	o, err := parseAgent(args, s)
	if err != nil {
		return err
	}
	cfg, log, level, err := loadAgent(o)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if cfg.ExitAfterAuth { // a Vault Agent config's exit_after_auth
		o.once = true
	}
	if !o.once {
		return runDaemon(ctx, o, cfg, level, log)
	}
	return runOnce(ctx, cfg, o.output, s.stdout, log)
}
