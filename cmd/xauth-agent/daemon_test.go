package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/login"
	"github.com/xauth-agent/xauth-agent/internal/renew"
	"github.com/xauth-agent/xauth-agent/internal/state"
)

// memVault is a Vault in memory, reached through its RoundTrip: it hands
// out tokens that live ttl, renews them (unless told to refuse), revokes
// them, and records every call. No socket is involved, so a daemon that
// talks to it runs whole inside a synctest bubble.
type memVault struct {
	ttl time.Duration

	mu      sync.Mutex
	seq     int
	valid   map[string]int // live tokens, by their number
	logins  []string       // the role of each login
	renews  []string       // the token of each renewal
	revokes []string
	refuse  bool // renewals answer 403
}

func newMemVault(ttl time.Duration) *memVault { return &memVault{ttl: ttl, valid: map[string]int{}} }

func (v *memVault) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil { // a GET has none
		body, _ = io.ReadAll(r.Body)
	}
	rec := httptest.NewRecorder()
	v.serve(rec, r.URL.Path, r.Header.Get("X-Vault-Token"), body)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

func (v *memVault) serve(w http.ResponseWriter, path, tok string, body []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	answer := func(status int, doc any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(doc)
	}
	auth := func(tok string, n int) map[string]any {
		return map[string]any{"auth": map[string]any{"client_token": tok, "accessor": fmt.Sprintf("acc-%d", n),
			"policies": []string{"default"}, "lease_duration": int(v.ttl / time.Second), "renewable": true}}
	}
	switch path {
	case "/v1/auth/aws/login":
		var data struct{ Role string }
		_ = json.Unmarshal(body, &data)
		v.logins = append(v.logins, data.Role)
		v.seq++
		tok := fmt.Sprintf("hvs.memvault-token-%d", v.seq)
		v.valid[tok] = v.seq
		answer(http.StatusOK, auth(tok, v.seq))
	case "/v1/auth/token/renew-self":
		v.renews = append(v.renews, tok)
		n, ok := v.valid[tok]
		if !ok || v.refuse {
			answer(http.StatusForbidden, map[string][]string{"errors": {"permission denied"}})
			return
		}
		answer(http.StatusOK, auth(tok, n))
	case "/v1/auth/token/lookup-self":
		n, ok := v.valid[tok]
		if !ok {
			answer(http.StatusForbidden, map[string][]string{"errors": {"permission denied"}})
			return
		}
		answer(http.StatusOK, map[string]any{"data": map[string]any{"accessor": fmt.Sprintf("acc-%d", n), "path": "auth/aws/login",
			"ttl": int(v.ttl / time.Second), "creation_ttl": int(v.ttl / time.Second), "renewable": true, "policies": []string{"default"}}})
	case "/v1/auth/token/revoke-self":
		v.revokes = append(v.revokes, tok)
		delete(v.valid, tok)
		w.WriteHeader(http.StatusNoContent)
	default:
		answer(http.StatusNotFound, map[string][]string{"errors": {"no handler for route"}})
	}
}

// login is the daemon's loginFunc against v: a vault/api client whose
// requests reach v, and the real IAM login with static credentials.
func (v *memVault) login(_ context.Context, cfg *config.Config, log *zap.Logger) (*api.Client, renew.Authenticator, error) {
	c := api.DefaultConfig()
	c.Address, c.MaxRetries, c.HttpClient = cfg.Vault.Address(), 0, &http.Client{Transport: v}
	vc, err := api.NewClient(c)
	if err != nil {
		return nil, nil, err
	}
	vc.ClearToken()
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIADAEMONTEST", SecretAccessKey: "daemon-test-secret", Source: "test"}, nil
	})
	return vc, login.New(vc, creds, cfg.Auth, time.Now, log.Named("login")), nil
}

func (v *memVault) calls() (logins, renews, revokes []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.logins), slices.Clone(v.renews), slices.Clone(v.revokes)
}

// notes records what the daemon tells systemd, and what the sink file
// held when it said READY=1.
type notes struct {
	sink string
	mu   sync.Mutex
	msgs []string
}

func (n *notes) add(m string) { n.mu.Lock(); n.msgs = append(n.msgs, m); n.mu.Unlock() }
func (n *notes) Ready(status string) {
	b, _ := os.ReadFile(n.sink)
	n.add("READY=1 " + status + " sink=" + string(b))
}
func (n *notes) Status(status string)            { n.add("STATUS=" + status) }
func (n *notes) Reloading()                      { n.add("RELOADING=1") }
func (n *notes) Stopping()                       { n.add("STOPPING=1") }
func (n *notes) WatchdogInterval() time.Duration { return 0 }
func (n *notes) Watchdog()                       {}

func (n *notes) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// daemonRun is a daemon running in the current bubble against a memVault.
type daemonRun struct {
	vault     *memVault
	notes     *notes
	hup, usr1 chan os.Signal
	cfg, sink string
	keep      bool     // no revoke_on_exit: the token record outlives the stop
	dirs      []string // $STATE_DIRECTORY and $RUNTIME_DIRECTORY
	cancel    context.CancelFunc
	done      chan error
}

// daemonConfig is the config file of the daemon tests: role, one file
// sink, revoke_on_exit unless keep.
func daemonConfig(role, sink string, keep bool) string {
	return fmt.Sprintf("vault {\n  address = \"http://vault.test:8200\"\n}\nauth \"aws\" {\n  role = %q\n}\n"+
		"sink \"file\" {\n  path = %q\n}\nlifecycle {\n  revoke_on_exit = %v\n}\n", role, sink, !keep)
}

// startDaemon runs the daemon (as runDaemon does, with the seams
// replaced) with the config of role; tokens live ttl. Its state directory
// is a temp dir, and so is its runtime directory (not memory: no token
// record is kept).
func startDaemon(t *testing.T, role string, ttl time.Duration) *daemonRun {
	t.Helper()
	dir := t.TempDir()
	r := &daemonRun{vault: newMemVault(ttl), cfg: filepath.Join(dir, "agent.hcl"), sink: filepath.Join(dir, "token"),
		dirs: []string{filepath.Join(dir, "state"), filepath.Join(dir, "run")}}
	r.writeConfig(t, role)
	r.start(t)
	return r
}

// start runs the daemon of r, again after a stop.
func (r *daemonRun) start(t *testing.T) {
	t.Helper()
	r.hup, r.usr1, r.done = make(chan os.Signal, 1), make(chan os.Signal, 1), make(chan error, 1)
	r.notes = &notes{sink: r.sink}
	env := map[string]string{"STATE_DIRECTORY": r.dirs[0], "RUNTIME_DIRECTORY": r.dirs[1]}
	d := &agentDaemon{o: &options{configPath: r.cfg, stderr: io.Discard}, login: r.vault.login, notify: r.notes,
		hup: r.hup, usr1: r.usr1, env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		level: zap.NewAtomicLevel(), log: zaptest.NewLogger(t)}
	cfg, err := loadConfig(d.o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	go func() { r.done <- d.run(ctx, cfg) }()
	synctest.Wait()
}

func (r *daemonRun) writeConfig(t *testing.T, role string) {
	t.Helper()
	if err := os.WriteFile(r.cfg, []byte(daemonConfig(role, r.sink, r.keep)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (r *daemonRun) token(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(r.sink)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stop ends the daemon as SIGTERM does, and returns run's result.
func (r *daemonRun) stop() error {
	r.cancel()
	return <-r.done
}

// daemonEnv clears the environment the configuration reads.
func daemonEnv(t *testing.T) {
	for _, k := range []string{"VAULT_ADDR", "VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_CAPATH", "VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY",
		"VAULT_TLS_SERVER_NAME", "VAULT_SKIP_VERIFY", "XAUTH_ROLE", "XAUTH_MOUNT", "XAUTH_HEADER_VALUE", "XAUTH_STS_REGION",
		"XAUTH_STS_ENDPOINT", "XAUTH_LOG_LEVEL", "XAUTH_LOG_FORMAT"} {
		t.Setenv(k, "")
	}
}

// The first login writes the sink before READY=1 tells systemd, whose
// STATUS= names the accessor, never the token.
func TestDaemonFirstLoginThenReady(t *testing.T) {
	daemonEnv(t)
	synctest.Test(t, func(t *testing.T) {
		r := startDaemon(t, "web", time.Hour)
		logins, _, _ := r.vault.calls()
		if !slices.Equal(logins, []string{"web"}) || r.token(t) != "hvs.memvault-token-1" {
			t.Fatalf("logins %q, sink %q; want one login as web and its token in the sink", logins, r.token(t))
		}
		msgs := r.notes.all()
		ready := slices.IndexFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "READY=1") })
		if ready < 0 || msgs[ready] != "READY=1 state=renewing accessor=acc-1 ttl_left=1h0m0s sink=hvs.memvault-token-1" {
			t.Fatalf("notifications %q: want READY=1 with the accessor, once the token is in the sink", msgs)
		}
		if msgs[0] != "STATUS=state=logging-in" || slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "STATUS=") && strings.Contains(m, "hvs.") }) {
			t.Errorf("notifications %q: want logging-in first, and no token in any STATUS=", msgs)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// Renewals keep the token and the file; a refused renewal brings a new
// login, whose token replaces the file's.
func TestDaemonRenewsAndLogsInAgain(t *testing.T) {
	daemonEnv(t)
	synctest.Test(t, func(t *testing.T) {
		r := startDaemon(t, "web", time.Minute)
		time.Sleep(45 * time.Second) // renewed at 2/3 of the minute
		synctest.Wait()
		logins, renews, _ := r.vault.calls()
		if len(logins) != 1 || !slices.Equal(renews, []string{"hvs.memvault-token-1"}) || r.token(t) != "hvs.memvault-token-1" {
			t.Fatalf("after 45 s: logins %q renewals %q sink %q; want one renewal of the first token, still in the sink", logins, renews, r.token(t))
		}
		if msgs := r.notes.all(); !strings.HasPrefix(msgs[len(msgs)-1], "STATUS=state=renewing accessor=acc-1 ttl_left=") {
			t.Errorf("last notification %q, want the renewed token's status", msgs[len(msgs)-1])
		}

		r.vault.mu.Lock()
		r.vault.refuse = true // the token was revoked behind the agent's back
		r.vault.mu.Unlock()
		time.Sleep(time.Minute)
		synctest.Wait()
		logins, _, _ = r.vault.calls()
		if len(logins) != 2 || r.token(t) != "hvs.memvault-token-2" {
			t.Fatalf("after a refused renewal: logins %q, sink %q; want a second login and its token in the sink", logins, r.token(t))
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// SIGHUP re-reads the configuration: a new role logs in again, READY=1
// follows RELOADING=1; a broken file keeps the running configuration.
func TestDaemonReload(t *testing.T) {
	daemonEnv(t)
	synctest.Test(t, func(t *testing.T) {
		r := startDaemon(t, "web", time.Hour)
		r.writeConfig(t, "other")
		r.hup <- syscall.SIGHUP
		synctest.Wait()
		logins, _, _ := r.vault.calls()
		if !slices.Equal(logins, []string{"web", "other"}) || r.token(t) != "hvs.memvault-token-2" {
			t.Fatalf("after SIGHUP: logins %q, sink %q; want a login as the new role and its token", logins, r.token(t))
		}
		msgs := r.notes.all()
		reloading := slices.Index(msgs, "RELOADING=1")
		if reloading < 0 || !slices.ContainsFunc(msgs[reloading:], func(m string) bool { return strings.HasPrefix(m, "READY=1 state=renewing") }) {
			t.Errorf("notifications %q: want RELOADING=1, then READY=1", msgs)
		}

		if err := os.WriteFile(r.cfg, []byte("vault {\n  adress = \"x\"\n}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r.hup <- syscall.SIGHUP
		time.Sleep(time.Minute)
		synctest.Wait()
		if logins, _, _ := r.vault.calls(); len(logins) != 2 || r.token(t) != "hvs.memvault-token-2" {
			t.Fatalf("a broken config changed the login: logins %q, sink %q", logins, r.token(t))
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// Shutdown with revoke_on_exit revokes the current token and tells
// systemd STOPPING=1; the token stays in the sink.
func TestDaemonShutdownRevokes(t *testing.T) {
	daemonEnv(t)
	synctest.Test(t, func(t *testing.T) {
		r := startDaemon(t, "web", time.Hour)
		if err := r.stop(); err != nil {
			t.Fatalf("run returned %v on SIGTERM, want nil", err)
		}
		if _, _, revokes := r.vault.calls(); !slices.Equal(revokes, []string{"hvs.memvault-token-1"}) {
			t.Errorf("revoked %q, want the current token", revokes)
		}
		if msgs := r.notes.all(); msgs[len(msgs)-1] != "STOPPING=1" {
			t.Errorf("last notification %q, want STOPPING=1", msgs[len(msgs)-1])
		}
		if r.token(t) != "hvs.memvault-token-1" {
			t.Errorf("the sink lost its token on exit")
		}
	})
}

// memRuntimeDir is a fresh directory on tmpfs (/dev/shm), where the token
// record may be kept; the test is skipped without one.
func memRuntimeDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "xauth-daemon-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if _, err := state.OpenStore(dir); err != nil {
		t.Skip(err)
	}
	return dir
}

// A restart takes over the recorded token: no login, a renewal, the same
// token in the sink. revoke_on_exit removes the record: the next start
// logs in.
func TestDaemonRestartWithoutLogin(t *testing.T) {
	daemonEnv(t)
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		r := &daemonRun{vault: newMemVault(time.Hour), cfg: filepath.Join(dir, "agent.hcl"), sink: filepath.Join(dir, "token"),
			keep: true, dirs: []string{filepath.Join(dir, "state"), memRuntimeDir(t)}}
		r.writeConfig(t, "web")
		r.start(t)
		record := filepath.Join(r.dirs[1], config.TokenRecordFile)
		if fi, err := os.Stat(record); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("token record: %v %v; want a 0600 file", fi, err)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		r.start(t)
		logins, renews, _ := r.vault.calls()
		if len(logins) != 1 || !slices.Equal(renews, []string{"hvs.memvault-token-1"}) || r.token(t) != "hvs.memvault-token-1" {
			t.Fatalf("after a restart: logins %q, renewals %q, sink %q; want the first token renewed, no second login", logins, renews, r.token(t))
		}
		if !slices.ContainsFunc(r.notes.all(), func(m string) bool { return strings.HasPrefix(m, "READY=1 state=renewing accessor=acc-1") }) {
			t.Errorf("notifications %q: want READY=1 with the kept token", r.notes.all())
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}

		r.writeConfig(t, "other") // another role: another fingerprint
		r.start(t)
		if logins, _, _ := r.vault.calls(); !slices.Equal(logins, []string{"web", "other"}) {
			t.Fatalf("logins %q: a record of other settings must not be taken over", logins)
		}
		r.keep = false
		r.writeConfig(t, "other")
		r.hup <- syscall.SIGHUP // revoke_on_exit now
		synctest.Wait()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(record); !os.IsNotExist(err) {
			t.Errorf("token record after a stop with revoke_on_exit: %v; want it removed", err)
		}
	})
}

// A second daemon on the same state directory exits 2, naming the pid of
// the one that holds it.
func TestDaemonStateDirLock(t *testing.T) {
	daemonEnv(t)
	synctest.Test(t, func(t *testing.T) {
		r := startDaemon(t, "web", time.Hour)
		second := &daemonRun{vault: r.vault, cfg: r.cfg, sink: r.sink, dirs: r.dirs}
		second.start(t)
		err := <-second.done
		var held *state.LockedError
		if !errors.As(err, &held) || held.PID != os.Getpid() || exitCode(err) != 2 {
			t.Fatalf("second daemon: %v (exit %d); want the lock error naming pid %d, exit 2", err, exitCode(err), os.Getpid())
		}
		if logins, _, _ := r.vault.calls(); len(logins) != 1 {
			t.Errorf("logins %q: the second daemon must not log in", logins)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// SIGUSR1 renews the token now; when Vault refuses the renewal, the
// daemon logs in and the sink gets the new token.
func TestDaemonSIGUSR1RenewsNow(t *testing.T) {
	daemonEnv(t)
	synctest.Test(t, func(t *testing.T) {
		r := startDaemon(t, "web", time.Hour)
		time.Sleep(time.Minute)
		r.usr1 <- syscall.SIGUSR1
		synctest.Wait()
		if logins, renews, _ := r.vault.calls(); len(logins) != 1 || len(renews) != 1 || r.token(t) != "hvs.memvault-token-1" {
			t.Fatalf("after SIGUSR1: logins %q, renewals %q; want one renewal now", logins, renews)
		}
		r.vault.mu.Lock()
		r.vault.refuse = true
		r.vault.mu.Unlock()
		r.usr1 <- syscall.SIGUSR1
		synctest.Wait()
		if logins, _, _ := r.vault.calls(); len(logins) != 2 || r.token(t) != "hvs.memvault-token-2" {
			t.Fatalf("after a refused SIGUSR1 renewal: logins %q, sink %q; want a login and its token", logins, r.token(t))
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}
