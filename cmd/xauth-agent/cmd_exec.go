package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/sink"
	"github.com/xauth-agent/xauth-agent/internal/token"
)

// exitCannotRun is exec's exit code when CMD cannot be started (as in a shell).
const exitCannotRun = 127

// restartGrace is how long --restart waits after SIGTERM before it kills
// the child.
const restartGrace = 10 * time.Second

const execUsage = `Usage: xauth-agent exec [agent flags] [--signal SIGHUP | --restart] [--splay 5s] [--once] -- CMD [ARGS...]

Logs in, then runs CMD with VAULT_TOKEN (and VAULT_ADDR, VAULT_NAMESPACE)
in its environment, and keeps the token fresh. On a new token it sends CMD
--signal (default SIGHUP; CMD re-reads a sink "file") or, with --restart,
stops CMD with SIGTERM and starts it again with the new VAULT_TOKEN; both
wait a random delay up to --splay. SIGTERM and SIGINT are passed to CMD.
With --once, CMD runs once with a fresh token and nothing renews it.

The agent flags (--config, --role, --sink-file, ...) are those of
xauth-agent --help; file sinks are written as by the daemon.

Until the first token, an unreachable Vault is retried; a refused login
ends exec (exit 5, or 7 for an EC2 nonce mismatch) without starting CMD.

Exit code: CMD's own; 128+N when a signal N killed it; 127 when it cannot
be started; before CMD starts, the agent's codes (xauth-agent --help).
`

// execOptions are exec's own flags.
type execOptions struct {
	signal  syscall.Signal
	restart bool
	splay   time.Duration
}

// execSignals are the names --signal accepts (with or without "SIG").
var execSignals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

// execArgs parses exec's command line: the agent's flags (agentFlags) and
// exec's own, then "--" and CMD with its arguments (argv).
func execArgs(args []string, s streams) (eo execOptions, o *options, argv []string, err error) {
	fs := flag.NewFlagSet("xauth-agent exec", flag.ContinueOnError)
	o = agentFlags(fs)
	sig := fs.String("signal", "HUP", "")
	splay := fs.String("splay", "0s", "")
	fs.BoolVar(&eo.restart, "restart", false, "")
	operands, argv, err := parse(fs, args, s.stderr, helpText(execUsage))
	if err == nil {
		err = noOperands(operands)
	}
	if err == nil {
		err = o.finish(s)
	}
	if err != nil {
		return eo, nil, nil, err
	}
	if len(argv) == 0 {
		return eo, nil, nil, usageError(errors.New("no command: use xauth-agent exec [flags] -- CMD [ARGS...]"))
	}
	var sigSet bool
	fs.Visit(func(f *flag.Flag) { sigSet = sigSet || f.Name == "signal" })
	var ok bool
	if eo.signal, ok = execSignals[strings.TrimPrefix(strings.ToUpper(*sig), "SIG")]; !ok {
		err = fmt.Errorf("--signal %q: use HUP, INT, QUIT, TERM, USR1 or USR2", *sig)
	} else if eo.splay, err = time.ParseDuration(*splay); err != nil || eo.splay < 0 {
		err = fmt.Errorf("--splay %q: want a duration such as 5s", *splay)
	} else if sigSet && eo.restart {
		err = errors.New("--signal and --restart exclude each other")
	}
	if err != nil {
		return eo, nil, nil, usageError(err)
	}
	return eo, o, argv, nil
}

// runExec is "xauth-agent exec".
func runExec(ctx context.Context, args []string, s streams) error {
	eo, o, argv, err := execArgs(args, s)
	if err != nil {
		return err
	}
	cfg, log, _, err := loadAgent(o)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if cfg.Socket != nil {
		log.Warn("sink \"socket\" is served by the daemon only; exec skips it", zap.String("path", cfg.Socket.Path))
		cfg.Socket = nil
	}
	if cfg.Health.Address != "" {
		log.Warn("the health listener is served by the daemon only; exec skips it", zap.String("address", cfg.Health.Address))
	}
	// Registered before any child exists, so a signal that cancels ctx
	// (main's NotifyContext) is already in sigs when ctx is done.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	sup := &supervisor{argv: argv, opts: eo, vault: cfg.Vault, environ: os.Environ(), grace: restartGrace,
		stdout: s.stdout, stderr: s.stderr, log: log.Named("exec")}
	fs := newFileSinks(ctx, log, nil)
	sinks, err := fs.checkedSinks(cfg)
	if err != nil {
		return err
	}
	state := token.NewLatest()
	if o.once {
		tok, err := loginOnce(ctx, cfg, fs, sinks, log)
		fs.wait()
		if err != nil {
			return err
		}
		state.Update(func(s *token.State) { s.SetToken(tok, time.Now()) })
		return sup.run(ctx, state, sigs, nil)
	}

	// The lifecycle outlives a SIGTERM until the child has exited: the
	// child keeps a valid token while it shuts down.
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	fan := sink.NewFanout(log.Named("sink"), state, sinkRetry, nil)
	defer fan.Close()
	fan.Set(life, sinks)
	sess, err := newSession(life, cfg, state, newLogin, log)
	if err != nil {
		return err
	}
	fs.client.Store(sess.client)
	if sess.vault != nil {
		sup.vaultAddr = sess.vault.Current
	}
	sess.start(life)
	defer sess.stop()
	if err := firstToken(ctx, state, sess); err != nil || ctx.Err() != nil {
		return err
	}
	return sup.run(ctx, state, sigs, sess)
}

// firstToken waits for the lifecycle's first token, until ctx ends. A
// login Vault refuses before that ends the wait with the refusal: there is
// nothing to start CMD with, and a configuration problem rarely heals by
// waiting; exec exits like --once, so its supervisor shows the cause.
func firstToken(ctx context.Context, state *token.Latest, lifecycle *session) error {
	for {
		st, changed := state.Load()
		switch {
		case st.Generation > 0:
			return nil
		case failure.Of(st.Err).Retry() == failure.LoginSlowly:
			return st.Err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		case <-lifecycle.ended():
			return failure.Mark(failure.Runtime, fmt.Errorf("lifecycle stopped: %w", lifecycle.err))
		}
	}
}

// supervisor runs the child and reacts to new tokens and to signals.
type supervisor struct {
	argv           []string
	opts           execOptions
	vault          config.Vault
	vaultAddr      func() string // the address the lifecycle uses now (vault.Selector); nil: the first
	environ        []string      // the child's environment before the VAULT_* variables
	grace          time.Duration // SIGTERM to SIGKILL when restarting
	stdout, stderr io.Writer
	log            *zap.Logger
}

// start runs the child with tok in its environment; the returned channel
// gets its state when it exits.
func (s *supervisor) start(tok token.Token) (*exec.Cmd, <-chan *os.ProcessState, error) {
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, s.stdout, s.stderr
	cmd.Env = slices.DeleteFunc(slices.Clone(s.environ), func(e string) bool {
		name, _, _ := strings.Cut(e, "=")
		return name == "VAULT_TOKEN" || name == "VAULT_ADDR" || name == "VAULT_NAMESPACE"
	})
	addr := s.vault.Address()
	if s.vaultAddr != nil {
		addr = s.vaultAddr()
	}
	cmd.Env = append(cmd.Env, "VAULT_TOKEN="+tok.Token, "VAULT_ADDR="+addr)
	if s.vault.Namespace != "" {
		cmd.Env = append(cmd.Env, "VAULT_NAMESPACE="+s.vault.Namespace)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", s.argv[0], err)
	}
	s.log.Info("child started", zap.Int("pid", cmd.Process.Pid), zap.String("accessor", tok.Accessor))
	done := make(chan *os.ProcessState, 1)
	go func() { _ = cmd.Wait(); done <- cmd.ProcessState }()
	return cmd, done, nil
}

// run starts the child with state's token and supervises it until it
// exits, acting on each new token; its error carries the exit code exec
// exits with (exitCode). lifecycle (whose end stops the child) is nil with
// --once.
func (s *supervisor) run(ctx context.Context, state *token.Latest, sigs <-chan os.Signal, lifecycle *session) error {
	st, changed := state.Load()
	tok, gen := st.Token, st.Generation
	cmd, done, err := s.start(tok)
	if err != nil {
		return exitError{exitCannotRun, err}
	}
	var (
		due        <-chan time.Time // the splay before acting on a new token
		kill       <-chan time.Time // the end of a restart's grace
		stopping   bool             // the child was told to stop: no more restarts
		restarting bool             // the child was stopped to start it again
		ctxDone    = ctx.Done()
	)
	forward := func(sig os.Signal) {
		stopping = true
		s.log.Info("passing signal to child", zap.String("signal", sig.String()))
		_ = cmd.Process.Signal(sig)
	}
	for {
		select {
		case sig := <-sigs:
			ctxDone = nil
			forward(sig)
		case <-ctxDone:
			ctxDone = nil
			select {
			case sig := <-sigs: // the signal that cancelled ctx
				forward(sig)
			default:
				forward(syscall.SIGTERM)
			}
		case <-lifecycle.ended():
			s.log.Error("lifecycle stopped, stopping the child", zap.Error(lifecycle.err))
			lifecycle = nil
			forward(syscall.SIGTERM)
		case <-changed:
			st, changed = state.Load()
			if st.Generation == gen {
				continue
			}
			tok, gen = st.Token, st.Generation
			if due == nil {
				d := s.splay()
				s.log.Info("new token", zap.String("accessor", tok.Accessor), zap.Duration("splay", d))
				due = time.After(d)
			}
		case <-due:
			due = nil
			switch {
			case stopping:
			case s.opts.restart:
				restarting = true
				s.log.Info("restarting child for the new token")
				_ = cmd.Process.Signal(syscall.SIGTERM)
				kill = time.After(s.grace)
			default:
				s.log.Info("signalling child for the new token", zap.String("signal", s.opts.signal.String()))
				_ = cmd.Process.Signal(s.opts.signal)
			}
		case <-kill:
			kill = nil
			s.log.Warn("child still running after SIGTERM, killing it", zap.Duration("grace", s.grace))
			_ = cmd.Process.Kill()
		case ps := <-done:
			kill = nil
			if !restarting || stopping {
				code := childExitCode(ps)
				s.log.Info("child exited", zap.Int("code", code))
				return exitError{code: code}
			}
			restarting = false
			if cmd, done, err = s.start(tok); err != nil {
				return exitError{exitCannotRun, err}
			}
		}
	}
}

func (s *supervisor) splay() time.Duration {
	if s.opts.splay <= 0 {
		return 0
	}
	return rand.N(s.opts.splay)
}

// childExitCode is the child's exit status, or 128+N when signal N killed it.
func childExitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
