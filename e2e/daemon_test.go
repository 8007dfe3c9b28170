package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/e2e/faultproxy"
	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// syncBuffer is a bytes.Buffer safe for a process writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// daemonProc is a running agent daemon.
type daemonProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan error
}

// startDaemon starts the agent daemon on the named instance, with debug
// logging unless args or env set a level; its log output must not show a
// secret (secrets_test.go). Its state and runtime directories are its own
// temp dirs (on disk: it keeps no token record) unless env or args say
// others. The test's cleanup kills it.
func startDaemon(t *testing.T, instance string, env []string, args ...string) *daemonProc {
	t.Helper()
	args = withDebugLog(args, env)
	cmd := exec.Command(agentBin, args...)
	cmd.Env = append(append(st.Instances[instance].Env(), "VAULT_ADDR="+st.VaultAddr,
		"XAUTH_STATE_DIR="+t.TempDir(), "XAUTH_RUNTIME_DIR="+t.TempDir()), env...)
	d := &daemonProc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = d.stderr, d.stderr // exec's child writes here too
	w := watchRun(t, args, true)
	t.Cleanup(func() { w.finish("", d.stderr.String()) }) // after the kill below
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-d.exited
		if t.Failed() {
			t.Logf("agent log:\n%s", d.stderr.String())
		}
	})
	return d
}

// stop sends sig and returns the exit code and how long the exit took.
func (d *daemonProc) stop(t *testing.T, sig syscall.Signal) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
		d.exited <- nil // for the cleanup
		return d.cmd.ProcessState.ExitCode(), time.Since(start)
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit within 10s")
		return -1, 0
	}
}

// shortRole creates an IAM role whose tokens live 4 s, at most 12 s.
func shortRole(t *testing.T, name string) {
	t.Helper()
	shortRoleOn(t, st.Vault, name)
}

// shortRoleOn creates the short-lived role through the root client vc.
func shortRoleOn(t *testing.T, vc *api.Client, name string) {
	t.Helper()
	iamRole(t, vc, name, "4s", "12s")
}

// iamRole creates an IAM role for client1's instance role through the root
// client vc, whose tokens live ttl, at most maxTTL.
func iamRole(t *testing.T, vc *api.Client, name, ttl, maxTTL string) {
	t.Helper()
	_, err := vc.Logical().Write("auth/aws/role/"+name, map[string]any{
		"auth_type": "iam", "policies": "admin",
		"bound_iam_principal_arn": "arn:aws:iam::222222222222:role/vault-secondary*",
		"token_ttl":               ttl, "token_max_ttl": maxTTL,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tokenTTL returns the TTL Vault reports for token, or an error when
// Vault refuses it (expired, revoked).
func tokenTTL(token string) (time.Duration, error) {
	c, err := st.Vault.Clone()
	if err != nil {
		return 0, err
	}
	c.SetToken(token)
	s, err := c.Auth().Token().LookupSelf()
	if err != nil {
		return 0, err
	}
	return s.TokenTTL()
}

func readToken(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// waitFor polls cond every 100 ms until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDaemonRenewsAndLogsInAgain(t *testing.T) {
	shortRole(t, "short-life")
	proxy, err := faultproxy.Start(st.VaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	file := filepath.Join(t.TempDir(), "token")
	d := startDaemon(t, "client1", nil, "--vault-addr", proxy.URL(), "--role", "short-life",
		"--header-value", stack.HeaderValue, "--sink-file", file, "--log-level", "debug")

	waitFor(t, 15*time.Second, "the first token", func() bool { return readToken(file) != "" })
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		tok := readToken(file)
		seen[tok] = true
		if _, err := tokenTTL(tok); err != nil {
			t.Fatalf("the sink holds a token Vault refuses while Vault is reachable: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	paths := proxy.RequestsByPath()
	renewals, logins := paths["/v1/auth/token/renew-self"], paths["/v1/auth/aws/login"]
	t.Logf("over 30s: %d renewals, %d logins, %d distinct tokens in the sink", renewals, logins, len(seen))
	if renewals < 2 || logins < 2 || len(seen) < 2 {
		t.Errorf("want ≥ 2 renewals, ≥ 1 re-login and each new token in the sink; got %d renewals, %d logins, %d tokens", renewals, logins, len(seen))
	}
	log := d.stderr.String()
	for tok := range seen {
		if strings.Contains(log, tok) {
			t.Fatal("a token appears in the agent's debug log")
		}
	}

	// An outage longer than the token's TTL, then Vault comes back.
	proxy.Set(faultproxy.Fault{Mode: faultproxy.Refuse})
	before := readToken(file)
	time.Sleep(8 * time.Second)
	if got := readToken(file); got != before {
		t.Fatal("the sink changed during the outage")
	}
	proxy.Set(faultproxy.Fault{Mode: faultproxy.Pass})
	back := time.Now()
	waitFor(t, 20*time.Second, "a valid token after the outage", func() bool {
		_, err := tokenTTL(readToken(file))
		return err == nil
	})
	t.Logf("valid token %v after Vault came back", time.Since(back).Round(100*time.Millisecond))

	if code, took := d.stop(t, syscall.SIGTERM); code != 0 || took > 5*time.Second {
		t.Fatalf("SIGTERM: exit %d after %v, want 0 within 5s", code, took)
	}
}

func TestDaemonReloadAndExitOptions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	cfgPath := filepath.Join(dir, "agent.hcl")
	writeCfg := func(role string, extra string) {
		cfg := fmt.Sprintf("vault {\n  address = %q\n}\nauth \"aws\" {\n  role = %q\n  header_value = %q\n}\nsink \"file\" {\n  path = %q\n}\nlifecycle {\n  revoke_on_exit = true\n}\n%s",
			st.VaultAddr, role, stack.HeaderValue, file, extra)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("vault-role1", "")

	// A fake systemd notification socket.
	sockPath := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	next := func(want string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m := <-msgs:
				if strings.Contains(m, want) {
					return m
				}
			case <-timeout:
				t.Fatalf("no notification with %q", want)
			}
		}
	}

	d := startDaemon(t, "client1", []string{"NOTIFY_SOCKET=" + sockPath}, "--config", cfgPath)
	ready := next("READY=1")
	first := readToken(file)
	if first == "" {
		t.Fatal("READY=1 arrived before the token was in the sink")
	}
	if !strings.Contains(ready, "STATUS=state=renewing accessor=") || strings.Contains(ready, first) {
		t.Errorf("READY message %q: want a status with the accessor and never the token", ready)
	}
	roleID := func(tok string) string {
		c, _ := st.Vault.Clone()
		c.SetToken(tok)
		s, err := c.Auth().Token().LookupSelf()
		if err != nil {
			t.Fatalf("lookup-self: %v", err)
		}
		return fmt.Sprint(s.Data["meta"].(map[string]any)["role_id"])
	}
	firstRole := roleID(first)

	// SIGHUP with another role: the agent logs in again with it.
	writeCfg("vault-role", "")
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	next("RELOADING=1")
	next("READY=1")
	waitFor(t, 15*time.Second, "a token for the new role", func() bool { return readToken(file) != first })
	second := readToken(file)
	if roleID(second) == firstRole {
		t.Fatal("after SIGHUP the token still belongs to the old role")
	}

	// SIGHUP with a broken file: keep running on the old configuration.
	if err := os.WriteFile(cfgPath, []byte("vault {\n  adress = \"x\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the reload error in the log", func() bool {
		return strings.Contains(d.stderr.String(), "reload failed, keeping the running configuration")
	})
	if !strings.Contains(d.stderr.String(), "agent.hcl:2") {
		t.Error("the reload error does not name file:line")
	}
	if readToken(file) != second {
		t.Fatal("a failed reload changed the sink")
	}
	if _, err := tokenTTL(second); err != nil {
		t.Fatalf("token invalid after a failed reload: %v", err)
	}

	// SIGTERM: STOPPING=1, exit 0, and revoke_on_exit revokes the token.
	code, took := d.stop(t, syscall.SIGTERM)
	next("STOPPING=1")
	if code != 0 || took > 5*time.Second {
		t.Fatalf("exit %d after %v, want 0 within 5s", code, took)
	}
	if _, err := tokenTTL(second); err == nil {
		t.Fatal("revoke_on_exit: the token still works after exit")
	}
	if readToken(file) != second {
		t.Fatal("without remove_sinks_on_exit the file must stay")
	}
}

func TestDaemonSinkCheckFailsFast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, agentBin, "--role", "vault-role", "--sink-file", "/nonexistent-dir/token")
	cmd.Env = append(st.Instances["client1"].Env(), "VAULT_ADDR="+st.VaultAddr)
	err := cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != exitSink {
		t.Fatalf("daemon with an unwritable sink: %v, want exit %d", err, exitSink)
	}
}
