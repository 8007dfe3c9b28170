package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
