// Package hook runs a file sink's on_change command after the sink's file
// got a new token, so that the application reading the file picks it up
// (on_change = ["systemctl", "reload", "app"]).
//
// A Runner belongs to one file sink. Trigger asks for a run; the run waits
// a random delay up to the splay (so that a fleet does not reload at
// once), then starts the command with os/exec, without a shell, in a
// process group of its own, and kills that group when the timeout runs
// out. A Trigger while a run waits for its splay is covered by that run
// (the command has not read the file yet); one while the command runs
// makes one more run after it, however many arrive. The command's
// environment is the agent's own without VAULT_TOKEN, plus XAUTH_SINK_PATH,
// the sink's file; the token is never in its arguments or environment: it
// reads the file. Its output goes where Options.Output says.
//
// Each run's exit status and duration are logged (never the token).
package hook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// DefaultTimeout bounds a run unless on_change_timeout says otherwise.
const DefaultTimeout = 30 * time.Second

// EnvSinkPath names the sink's file in the command's environment.
const EnvSinkPath = "XAUTH_SINK_PATH"

// Results of a run, as logged and counted (Options.Done).
const (
	ResultOK       = "ok"       // exit status 0
	ResultFailed   = "failed"   // another exit status, or killed by a signal
	ResultTimeout  = "timeout"  // killed when the timeout ran out
	ResultNotStart = "no_start" // the command could not be started
)

// Results are every result a run can have.
var Results = []string{ResultOK, ResultFailed, ResultTimeout, ResultNotStart}

// Log field names.
const (
	fieldPath     = "path"
	fieldArgv     = "argv"
	fieldResult   = "result"
	fieldExitCode = "exit_code"
	fieldDuration = "duration"
	fieldSplay    = "splay"
)

// Options configures a Runner, with the values the configuration checked
// (config.FileSink).
type Options struct {
	Argv    []string      // the command and its arguments; Argv[0] is looked up in PATH unless it holds a slash
	Path    string        // the sink's file, passed as XAUTH_SINK_PATH
	Splay   time.Duration // each run first waits a random delay in [0, Splay)
	Timeout time.Duration // the command's process group is killed after this; 0 is DefaultTimeout

	// Rand draws the splay's delay in [0, n); nil is math/rand/v2.
	Rand func(n int64) int64
	// Environ is the agent's environment; nil is os.Environ.
	Environ func() []string
	// Done, when set, is told each run's result (metrics).
	Done func(result string)
	// Output receives the command's stdout and stderr (the agent's stderr,
	// so the journal shows them next to its log); nil discards them.
	Output io.Writer
}

// Runner runs one sink's on_change command; see the package comment.
type Runner struct {
	o   Options
	ctx context.Context // ends the runs: a pending one does not start, a running one is killed
	log *zap.Logger

	mu      sync.Mutex
	active  bool // a goroutine waits for the splay or runs the command
	started bool // the command of the current run has started: a Trigger now means one more run
	again   bool // one more run is due after the current one
	idle    sync.WaitGroup
}

// New returns the runner of o. Runs end with ctx: a run waiting for its
// splay does not start, and a running command's process group is killed.
// log should be named by the caller (log.Named("hook")); nil discards.
func New(ctx context.Context, o Options, log *zap.Logger) *Runner {
	if log == nil {
		log = zap.NewNop()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Rand == nil {
		o.Rand = rand.Int64N
	}
	if o.Environ == nil {
		o.Environ = os.Environ
	}
	return &Runner{o: o, ctx: ctx, log: log}
}

// Trigger asks for a run: the sink's file got a new token.
func (r *Runner) Trigger() {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.active:
		r.active = true
		r.idle.Add(1)
		go r.loop()
	case r.started:
		r.again = true
	}
}

// Wait returns when no run is pending or running.
func (r *Runner) Wait() { r.idle.Wait() }

// loop runs the command until no run is due.
func (r *Runner) loop() {
	defer r.idle.Done()
	for {
		r.once()
		r.mu.Lock()
		if !r.again || r.ctx.Err() != nil {
			r.active, r.started, r.again = false, false, false
			r.mu.Unlock()
			return
		}
		r.started, r.again = false, false
		r.mu.Unlock()
	}
}

// once waits for the splay, then runs the command.
func (r *Runner) once() {
	if r.o.Splay > 0 {
		delay := time.Duration(r.o.Rand(int64(r.o.Splay)))
		r.log.Debug("on_change waits for its splay", zap.String(fieldPath, r.o.Path), zap.Duration(fieldSplay, delay))
		t := time.NewTimer(delay)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	r.mu.Lock()
	r.started = true
	r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	start := time.Now()
	result, code, err := r.run()
	fields := []zap.Field{zap.String(fieldPath, r.o.Path), zap.Strings(fieldArgv, r.o.Argv), zap.String(fieldResult, result),
		zap.Int(fieldExitCode, code), zap.Duration(fieldDuration, time.Since(start))}
	if result == ResultOK {
		r.log.Info("on_change ran", fields...)
	} else {
		r.log.Warn("on_change failed", append(fields, zap.Error(err))...)
	}
	if r.o.Done != nil {
		r.o.Done(result)
	}
}

// run starts the command and waits for it, killing its process group when
// the timeout runs out or the runner's context ends. code is the exit
// status, -1 when there is none (killed, not started).
func (r *Runner) run() (result string, code int, err error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.o.Timeout)
	defer cancel()
	cmd := exec.Command(r.o.Argv[0], r.o.Argv[1:]...)
	cmd.Env = Environ(r.o.Environ(), r.o.Path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = r.o.Output, r.o.Output
	if err := cmd.Start(); err != nil {
		return ResultNotStart, -1, fmt.Errorf("start %s: %w; check on_change's command and that the agent's user may run it", r.o.Argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// The whole group: a command that started children of its own
		// leaves none behind.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ResultTimeout, -1, fmt.Errorf("killed after on_change_timeout %v: make the command finish sooner or raise on_change_timeout", r.o.Timeout)
		}
		return ResultFailed, -1, errors.New("killed: the agent is stopping")
	}
	code = cmd.ProcessState.ExitCode()
	if err != nil {
		return ResultFailed, code, err
	}
	return ResultOK, 0, nil
}

// Environ is the command's environment: env without VAULT_TOKEN (and
// without an inherited XAUTH_SINK_PATH), plus XAUTH_SINK_PATH=path.
func Environ(env []string, path string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name == "VAULT_TOKEN" || name == EnvSinkPath {
			continue
		}
		out = append(out, kv)
	}
	return append(out, EnvSinkPath+"="+path)
}
