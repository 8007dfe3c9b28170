package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// startExec runs "xauth-agent exec" on client1 with args (agent flags, then
// "--" and the child), as a daemon under the leak scan.
func startExec(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	return startDaemon(t, "client1", nil, append([]string{"exec"}, args...)...)
}

// childLines are the lines the child script appended to out.
func childLines(out string) []string {
	b, _ := os.ReadFile(out)
	return strings.Fields(strings.ReplaceAll(string(b), " ", "="))
}

// lineValue finds the newest line "key=value" whose value differs from not.
func lineValue(out, key, not string) string {
	lines := childLines(out)
	for i := len(lines) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(lines[i], key+"="); ok && v != not {
			return v
		}
	}
	return ""
}

// The child gets a live token; on each new token (max TTL 12 s) it gets
// SIGHUP and the file sink holds the new token; SIGTERM to the agent
// reaches the child and the child's exit code is the agent's.
func TestExecSignalsChildOnNewToken(t *testing.T) {
	shortRole(t, "exec-short")
	dir := t.TempDir()
	out, tokFile := filepath.Join(dir, "child.out"), filepath.Join(dir, "token")
	script := `echo "start $VAULT_TOKEN" >> "$1"
trap 'echo "hup $(cat "$2")" >> "$1"' HUP
trap 'echo term >> "$1"; exit 42' TERM
while :; do sleep 0.1; done`
	d := startExec(t, "--role", "exec-short", "--header-value", stack.HeaderValue, "--sink-file", tokFile,
		"--", "sh", "-c", script, "sh", out, tokFile)

	waitFor(t, 15*time.Second, "the child to start", func() bool { return lineValue(out, "start", "") != "" })
	first := lineValue(out, "start", "")
	if _, err := tokenTTL(first); err != nil {
		t.Fatalf("the child's VAULT_TOKEN fails lookup-self: %v", err)
	}
	waitFor(t, 30*time.Second, "SIGHUP with a new token in the sink", func() bool { return lineValue(out, "hup", first) != "" })
	second := lineValue(out, "hup", first)
	if _, err := tokenTTL(second); err != nil {
		t.Fatalf("after SIGHUP the sink's token fails lookup-self: %v", err)
	}
	if code, took := d.stop(t, syscall.SIGTERM); code != 42 || took > 5*time.Second {
		t.Fatalf("SIGTERM: exit %d after %v, want the child's 42 within 5s", code, took)
	}
	if l := childLines(out); l[len(l)-1] != "term" {
		t.Errorf("the child did not get SIGTERM: %q", l)
	}
	if strings.Contains(d.stderr.String(), first) {
		t.Error("a token appears in the agent's log")
	}
}

// With --restart the child starts again with the new VAULT_TOKEN; a child
// killed by SIGTERM makes the agent exit 128+15.
func TestExecRestartsChildOnNewToken(t *testing.T) {
	shortRole(t, "exec-short")
	out := filepath.Join(t.TempDir(), "child.out")
	d := startExec(t, "--role", "exec-short", "--header-value", stack.HeaderValue, "--restart", "--splay", "1s",
		"--", "sh", "-c", `echo "start $VAULT_TOKEN" >> "$1"; exec sleep 600`, "sh", out)

	waitFor(t, 15*time.Second, "the child to start", func() bool { return lineValue(out, "start", "") != "" })
	first := lineValue(out, "start", "")
	waitFor(t, 30*time.Second, "a restart with a new token", func() bool { return lineValue(out, "start", first) != "" })
	second := lineValue(out, "start", first)
	if _, err := tokenTTL(second); err != nil {
		t.Fatalf("the restarted child's VAULT_TOKEN fails lookup-self: %v", err)
	}
	if code, _ := d.stop(t, syscall.SIGTERM); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("child killed by SIGTERM: exit %d, want %d", code, 128+int(syscall.SIGTERM))
	}
}

// --once: the child runs once with a fresh token and VAULT_ADDR; its exit
// code is the agent's.
func TestExecOnce(t *testing.T) {
	out := filepath.Join(t.TempDir(), "child.out")
	r := runAgent(t, "client1", nil, "exec", "--once", "--role", "vault-role", "--header-value", stack.HeaderValue,
		"--", "sh", "-c", `printf %s "$VAULT_TOKEN" > "$1"; [ "$VAULT_ADDR" = "$2" ] || exit 9; exit 3`, "sh", out, st.VaultAddr)
	if r.code != 3 {
		t.Fatalf("exit %d, want the child's 3; stderr:\n%s", r.code, r.stderr)
	}
	if _, err := tokenTTL(readToken(out)); err != nil {
		t.Fatalf("the child's VAULT_TOKEN fails lookup-self: %v", err)
	}
}

// A refused first login ends exec with exit 5 and the diagnosis, without
// starting the child: client2's role is not bound to vault-role1.
func TestExecRefusedFirstLogin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "child.out")
	r := runAgent(t, "client2", nil, "exec", "--role", "vault-role1", "--header-value", stack.HeaderValue,
		"--", "sh", "-c", `touch "$1"`, "sh", out)
	if r.code != 5 {
		t.Fatalf("exit %d, want 5 (login refused); stderr:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("the child ran without a token")
	}
	if !strings.Contains(r.stderr, "vault-role1") {
		t.Errorf("stderr does not name the role:\n%s", r.stderr)
	}
}
