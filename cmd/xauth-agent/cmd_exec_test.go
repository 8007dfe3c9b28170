package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/token"
)

// execHelperEnv makes the test binary the child program of exec's tests.
const execHelperEnv = "XAUTH_EXEC_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(execHelperEnv); mode != "" {
		os.Exit(execHelper(mode, os.Getenv("XAUTH_EXEC_OUT")))
	}
	os.Exit(m.Run())
}

// execHelper is the child: it appends "start <VAULT_TOKEN> <VAULT_ADDR>"
// to out, "hup" on each SIGHUP, and exits 42 on SIGTERM ("stubborn":
// ignores it); mode "exit3" exits 3 at once, "kill" dies of SIGKILL.
func execHelper(mode, out string) int {
	switch mode {
	case "exit3":
		return 3
	case "kill":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
	line := func(s string) {
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			os.Exit(99)
		}
		_, _ = f.WriteString(s + "\n")
		_ = f.Close()
	}
	line("start " + os.Getenv("VAULT_TOKEN") + " " + os.Getenv("VAULT_ADDR"))
	for s := range sigs {
		if s == syscall.SIGTERM && mode != "stubborn" {
			line("term")
			return 42
		}
		if s == syscall.SIGHUP {
			line("hup")
		}
	}
	return 1
}

func TestExecArgs(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		want     execOptions
		wantRole string
		wantOnce bool
		wantArgv []string
		wantErr  string
	}{
		{"defaults", []string{"--role", "r", "--", "app", "-x"}, execOptions{signal: syscall.SIGHUP}, "r", false, []string{"app", "-x"}, ""},
		{"signal and splay", []string{"--signal", "USR1", "--config", "f", "-splay=2s", "--", "app"},
			execOptions{signal: syscall.SIGUSR1, splay: 2 * time.Second}, "", false, []string{"app"}, ""},
		{"restart and once", []string{"--restart", "--once", "--", "app", "--restart"},
			execOptions{signal: syscall.SIGHUP, restart: true}, "", true, []string{"app", "--restart"}, ""},
		{"SIG prefix", []string{"--signal=sigterm", "--", "app"}, execOptions{signal: syscall.SIGTERM}, "", false, []string{"app"}, ""},
		{"no command", []string{"--role", "r"}, execOptions{}, "", false, nil, "no command"},
		{"empty command", []string{"--"}, execOptions{}, "", false, nil, "no command"},
		{"operand before --", []string{"--role", "r", "app", "--", "x"}, execOptions{}, "", false, nil, `unexpected argument "app"`},
		{"bad signal", []string{"--signal", "KILL", "--", "app"}, execOptions{}, "", false, nil, `--signal "KILL"`},
		{"bad splay", []string{"--splay", "soon", "--", "app"}, execOptions{}, "", false, nil, `--splay "soon"`},
		{"missing value", []string{"--splay"}, execOptions{}, "", false, nil, "flag needs an argument: -splay"},
		{"both", []string{"--signal", "HUP", "--restart", "--", "app"}, execOptions{}, "", false, nil, "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eo, o, argv, err := execArgs(tt.args, streams{nil, io.Discard, io.Discard})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			role := ""
			if err == nil && o.overrides["role"] != nil {
				role = o.overrides["role"][0]
			}
			if err != nil || eo != tt.want || role != tt.wantRole || o.once != tt.wantOnce || !slices.Equal(argv, tt.wantArgv) {
				t.Fatalf("got %+v role %q once %v %q %v", eo, role, o != nil && o.once, argv, err)
			}
		})
	}
}

func TestRunExecUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"--help"}, failure.ExitOK, "Usage: xauth-agent exec"},
		{[]string{"--role", "r"}, failure.ExitUsage, "no command"},
		{[]string{"--nope", "--", "app"}, failure.ExitUsage, "-nope"},
		{[]string{"--", "app"}, failure.ExitUsage, "vault address is not set"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, nil, append([]string{"exec"}, tt.args...)...)
		if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
			t.Errorf("exec %q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.wantCode, tt.want)
		}
	}
}

// helperSupervisor runs the test binary as the child in mode.
func helperSupervisor(t *testing.T, mode string, opts execOptions) (*supervisor, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "child.out")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), execHelperEnv+"="+mode, "XAUTH_EXEC_OUT="+out, "VAULT_TOKEN=stale")
	return &supervisor{argv: []string{exe}, opts: opts, vault: config.Vault{Addresses: []string{"http://vault:8200"}},
		environ: env, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, log: zap.NewNop()}, out
}

// waitLines waits until the child's output has want as its last line.
func waitLines(t *testing.T, out, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if lines[len(lines)-1] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child output %q, want a last line %q", b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The child gets the Vault address the lifecycle uses now, not the
// first of the list when that one is down.
func TestSupervisorGivesTheAddressInUse(t *testing.T) {
	sup, out := helperSupervisor(t, "serve", execOptions{signal: syscall.SIGHUP})
	sup.vault.Addresses = append(sup.vault.Addresses, "http://vault-2:8200")
	sup.vaultAddr = func() string { return "http://vault-2:8200" }
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- exitCode(sup.run(ctx, stateOf(token.Token{Token: "t1"}), nil, nil)) }()
	waitLines(t, out, "start t1 http://vault-2:8200")
	cancel()
	<-code
}

func TestSupervisorSignalsOnNewToken(t *testing.T) {
	sup, out := helperSupervisor(t, "serve", execOptions{signal: syscall.SIGHUP})
	ctx, cancel := context.WithCancel(context.Background())
	tokens := stateOf(token.Token{Token: "t1"})
	code := make(chan int, 1)
	go func() { code <- exitCode(sup.run(ctx, tokens, nil, nil)) }()
	waitLines(t, out, "start t1 http://vault:8200")
	setToken(tokens, token.Token{Token: "t2"})
	waitLines(t, out, "hup")
	cancel() // as SIGTERM to exec: the child gets SIGTERM
	if got := <-code; got != 42 {
		t.Fatalf("exit %d, want the child's 42", got)
	}
	waitLines(t, out, "term")
}

func TestSupervisorRestartsOnNewToken(t *testing.T) {
	sup, out := helperSupervisor(t, "serve", execOptions{restart: true, splay: time.Millisecond})
	sigs := make(chan os.Signal, 1)
	tokens := stateOf(token.Token{Token: "t1"})
	code := make(chan int, 1)
	go func() { code <- exitCode(sup.run(context.Background(), tokens, sigs, nil)) }()
	waitLines(t, out, "start t1 http://vault:8200")
	setToken(tokens, token.Token{Token: "t2"})
	waitLines(t, out, "start t2 http://vault:8200")
	sigs <- syscall.SIGTERM
	if got := <-code; got != 42 {
		t.Fatalf("exit %d, want the child's 42", got)
	}
}

func TestSupervisorKillsAStubbornChildToRestartIt(t *testing.T) {
	sup, out := helperSupervisor(t, "stubborn", execOptions{restart: true})
	sup.grace = 50 * time.Millisecond
	tokens := stateOf(token.Token{Token: "t1"})
	sigs := make(chan os.Signal, 1)
	code := make(chan int, 1)
	go func() { code <- exitCode(sup.run(context.Background(), tokens, sigs, nil)) }()
	waitLines(t, out, "start t1 http://vault:8200")
	setToken(tokens, token.Token{Token: "t2"}) // SIGTERM is ignored: SIGKILL after the grace
	waitLines(t, out, "start t2 http://vault:8200")
	sigs <- syscall.SIGINT // the helper does not catch it
	if got := <-code; got != 128+int(syscall.SIGINT) {
		t.Fatalf("exit %d, want %d", got, 128+int(syscall.SIGINT))
	}
}

func TestSupervisorExitCodes(t *testing.T) {
	for _, tt := range []struct {
		mode string
		want int
	}{{"exit3", 3}, {"kill", 128 + int(syscall.SIGKILL)}} {
		sup, _ := helperSupervisor(t, tt.mode, execOptions{signal: syscall.SIGHUP})
		if got := exitCode(sup.run(context.Background(), stateOf(token.Token{Token: "t"}), nil, nil)); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.mode, got, tt.want)
		}
	}
	sup, _ := helperSupervisor(t, "serve", execOptions{})
	sup.argv = []string{filepath.Join(t.TempDir(), "missing")}
	if got := exitCode(sup.run(context.Background(), stateOf(token.Token{Token: "t"}), nil, nil)); got != exitCannotRun {
		t.Errorf("missing command: exit %d, want %d", got, exitCannotRun)
	}
}

// stateOf is a state holding tok.
func stateOf(tok token.Token) *token.Latest {
	state := token.NewLatest()
	setToken(state, tok)
	return state
}

// TestFirstToken: exec gives up when Vault refuses the first login
// (nothing to start CMD with), but not on a transient failure, and not
// once a token has arrived (the lifecycle then keeps retrying while CMD
// runs on the token it has).
func TestFirstToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		state := token.NewLatest()
		lifecycle := &session{done: make(chan struct{})}
		got := make(chan error, 1)
		go func() { got <- firstToken(t.Context(), state, lifecycle) }()
		fail := func(err error) { state.Update(func(s *token.State) { s.Step, s.Err = "retrying-login", err }) }
		fail(fmt.Errorf("%w: connection refused", failure.Unreachable))
		synctest.Wait()
		if len(got) != 0 {
			t.Fatalf("returned %v: only a refused login counts", <-got)
		}
		fail(fmt.Errorf("%w: permission denied", failure.Refused))
		if err := <-got; failure.Of(err) != failure.Refused {
			t.Fatalf("returned %v, want the refusal", err)
		}

		setToken(state, token.Token{Token: "a"})
		fail(fmt.Errorf("%w: permission denied", failure.Refused))
		if err := firstToken(t.Context(), state, lifecycle); err != nil {
			t.Fatalf("returned %v after a token arrived", err)
		}
	})
}
