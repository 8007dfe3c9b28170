package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// The local API on the real stack: curl gets the token over the unix
// socket, and the token passes lookup-self; the token/status/wait
// commands talk to the same socket.
func TestSocketSinkOnRealVault(t *testing.T) {
	dir, err := os.MkdirTemp("", "xa-sock-") // unix socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "agent.sock")
	cfgPath := filepath.Join(dir, "agent.hcl")
	cfg := fmt.Sprintf(`vault {
  address = %q
}
auth "aws" {
  role         = "vault-role"
  header_value = %q
}
sink "file" {
  path = "%s/token"
}
sink "socket" {
  path       = %q
  allow_uids = [0]
}
`, st.VaultAddr, stack.HeaderValue, dir, sock)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, "client1", nil, "--config", cfgPath)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agentCmd := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, agentBin, args...).Output()
		return string(out), err
	}
	if _, err := agentCmd("wait", "--socket", sock, "--timeout", "20s"); err != nil {
		t.Fatalf("xauth-agent wait: %v", err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--fail", "--unix-socket", sock,
		"-H", "X-Xauth-Request: true", "http://localhost/v1/token").Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	tok := string(out)
	if _, err := tokenTTL(tok); err != nil {
		t.Fatalf("the token from the socket fails lookup-self: %v", err)
	}
	if file := readToken(filepath.Join(dir, "token")); file != tok {
		t.Error("the socket and the file sink hold different tokens")
	}
	code, err := exec.CommandContext(ctx, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock,
		"http://localhost/v1/token").Output()
	if err != nil || string(code) != "400" {
		t.Errorf("without X-Xauth-Request: status %s (%v), want 400", code, err)
	}
	got, err := agentCmd("token", "--socket", sock)
	if err != nil || got != tok {
		t.Errorf("xauth-agent token: %v, got the same token: %v", err, got == tok)
	}
	status, err := agentCmd("status", "--socket", sock)
	if err != nil || !strings.Contains(status, "renewing") || strings.Contains(status, tok) {
		t.Errorf("xauth-agent status (%v):\n%s", err, status)
	}
}

// nobody is the uid (and gid) the reload test's caller runs as.
const nobody = 65534

// asNobody runs the agent binary as uid/gid 65534 and returns its output
// and exit code.
func asNobody(ctx context.Context, t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, agentBin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %q as nobody: %v", args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// socketConns counts the connections the agent has accepted on a socket
// in dir. /proc/net/unix names them by the path the listener was bound at,
// which is the agent's private directory next to the socket.
func socketConns(t *testing.T, dir, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// Num RefCount Protocol Flags Type St Inode Path; St 03 is connected.
		if len(f) == 8 && f[5] == "03" && strings.HasPrefix(f[7], filepath.Join(dir, "."+name+".tmp-")) {
			n++
		}
	}
	return n
}

// SIGHUP applies sink "socket" changes to the running daemon at once:
// removing a uid from allow_uids ends the long-poll that uid holds and
// refuses its next request; narrowing the mode shuts it out at connect; a
// new path moves the socket.
func TestSocketReloadRevokesAccess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to call the socket as another uid")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	dir, err := os.MkdirTemp("", "xa-hup-") // unix socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // nobody may reach the socket
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.hcl")
	writeCfg := func(name, mode, allow string) {
		cfg := fmt.Sprintf("vault {\n  address = %q\n}\nauth \"aws\" {\n  role         = \"vault-role\"\n  header_value = %q\n}\n"+
			"sink \"file\" {\n  path = \"%s/token\"\n}\nsink \"socket\" {\n  path       = \"%s/%s\"\n  mode       = %q\n  allow_uids = [%s]\n}\n",
			st.VaultAddr, stack.HeaderValue, dir, dir, name, mode, allow)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("agent.sock", "0666", "65534")
	d := startDaemon(t, "client1", nil, "--config", cfgPath)
	reloads := 0
	reload := func() {
		t.Helper()
		reloads++
		_ = d.cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, 10*time.Second, "the reload", func() bool {
			return strings.Count(d.stderr.String(), `"msg":"reloaded"`) >= reloads
		})
	}
	sock := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, agentBin, "wait", "--socket", sock, "--timeout", "30s").CombinedOutput(); err != nil {
		t.Fatalf("xauth-agent wait: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "the file sink", func() bool { return readToken(filepath.Join(dir, "token")) != "" })
	tok := readToken(filepath.Join(dir, "token"))
	if out, code := asNobody(ctx, t, "token", "--socket", sock); code != 0 || out != tok {
		t.Fatalf("nobody, allowed, got exit %d: %q", code, out)
	}

	// nobody long-polls for the next token, then loses access by SIGHUP.
	waitFor(t, 10*time.Second, "nobody's earlier connection to close", func() bool { return socketConns(t, dir, "agent.sock") == 0 })
	curl := exec.CommandContext(ctx, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock,
		"-H", "X-Xauth-Request: true", "-H", `If-None-Match: "1"`, "http://localhost/v1/token?wait=300s")
	curl.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var curlOut bytes.Buffer
	curl.Stdout = &curlOut
	if err := curl.Start(); err != nil {
		t.Fatal(err)
	}
	curlDone := make(chan error, 1)
	go func() { curlDone <- curl.Wait() }()
	waitFor(t, 10*time.Second, "nobody's long-poll to connect", func() bool { return socketConns(t, dir, "agent.sock") == 1 })

	writeCfg("agent.sock", "0666", "")
	start := time.Now()
	reload()
	select {
	case <-curlDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked caller's long-poll still runs 10s after the reload")
	}
	t.Logf("revoked long-poll ended %v after SIGHUP, curl wrote %q", time.Since(start).Round(time.Millisecond), curlOut.String())
	if got := curlOut.String(); got == "200" || got == "304" {
		t.Fatalf("the revoked caller's long-poll was answered %s", got)
	}
	if !strings.Contains(d.stderr.String(), "closed the connections of callers no longer allowed") {
		t.Error("the daemon did not log closing the revoked caller's connection")
	}
	if out, code := asNobody(ctx, t, "token", "--socket", sock); code != 5 || strings.Contains(out, tok) {
		t.Errorf("nobody after removal from allow_uids: exit %d, want 5 (refused): %q", code, out)
	}

	// Listed again, but the mode no longer lets others connect.
	writeCfg("agent.sock", "0660", "65534")
	reload()
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode after reload: %v %v, want 0660", fi.Mode(), err)
	}
	if out, code := asNobody(ctx, t, "token", "--socket", sock); code != 5 || !strings.Contains(out, "connect: permission denied") {
		t.Errorf("nobody with mode 0660: exit %d, want 5 (permission denied at connect): %q", code, out)
	}

	// A new path: the socket moves; the old file is gone.
	writeCfg("moved.sock", "0666", "65534")
	reload()
	moved := filepath.Join(dir, "moved.sock")
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old socket is still there after the move: %v", err)
	}
	if out, code := asNobody(ctx, t, "token", "--socket", moved); code != 0 || out != readToken(filepath.Join(dir, "token")) {
		t.Errorf("nobody on the moved socket: exit %d: %q", code, out)
	}
	if strings.Contains(d.stderr.String(), "take effect on restart") {
		t.Error("the daemon still says socket changes take effect on restart")
	}
}
