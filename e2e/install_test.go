package e2e

import (
	"bufio"
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

// install systemd prints the files and writes nothing; --apply writes them
// under --root, keeps an existing config, and the unit it wrote starts an
// agent that logs in to the real Vault, with the state and runtime
// directories systemd gives it ($STATE_DIRECTORY, $RUNTIME_DIRECTORY).
func TestInstallSystemd(t *testing.T) {
	root := t.TempDir()
	dry := runBinary(t, "client1", nil, []string{"install", "systemd", "--root", root}, true)
	if dry.code != 0 || !strings.Contains(dry.stdout, "[Service]") || !strings.Contains(dry.stdout, "Nothing was written") {
		t.Fatalf("install systemd: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatal("install systemd without --apply wrote files")
	}

	// The skeleton, written to a fresh root, is a config the agent accepts.
	fresh := t.TempDir()
	if r := runBinary(t, "client1", nil, []string{"install", "systemd", "--apply", "--root", fresh}, true); r.code != 0 {
		t.Fatalf("install --apply: exit %d: %s", r.code, r.stderr)
	}
	if r := runAgent(t, "client1", nil, "validate", "--config", filepath.Join(fresh, "etc/xauth-agent/agent.hcl")); r.code != 0 {
		t.Fatalf("the installed skeleton does not validate: %s", r.stderr)
	}

	// An existing config is kept.
	dir := t.TempDir()
	sinkPath := filepath.Join(dir, "token")
	cfgPath := filepath.Join(root, "etc/xauth-agent/agent.hcl")
	cfg := fmt.Sprintf("vault {\n  address = %q\n}\nauth \"aws\" {\n  role = \"vault-role\"\n  header_value = %q\n}\nsink \"file\" {\n  path = %q\n}\n",
		st.VaultAddr, stack.HeaderValue, sinkPath)
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	r := runBinary(t, "client1", nil, []string{"install", "systemd", "--apply", "--root", root, "--bin", agentBin}, true)
	if b, _ := os.ReadFile(cfgPath); r.code != 0 || string(b) != cfg || !strings.Contains(r.stdout, "kept "+cfgPath) {
		t.Fatalf("install --apply over a config: exit %d, config kept %v\n%s", r.code, string(b) == cfg, r.stdout)
	}
	if path, err := exec.LookPath("systemd-analyze"); err == nil {
		unit := filepath.Join(root, "etc/systemd/system/xauth-agent.service")
		// Only syntax: the scratch root has no /usr/bin or targets (scripts/check-units.sh checks the rest).
		out, _ := exec.Command(path, "verify", unit).CombinedOutput()
		if strings.Contains(string(out), "Unknown key") || strings.Contains(string(out), "Invalid") {
			t.Errorf("systemd-analyze verify %s:\n%s", unit, out)
		}
	}

	// Start the agent as the written unit says, as systemd would.
	argv := execStart(t, filepath.Join(root, "etc/systemd/system/xauth-agent.service"))
	if argv[0] != agentBin || len(argv) != 3 || argv[1] != "--config" || argv[2] != "/etc/xauth-agent/agent.hcl" {
		t.Fatalf("ExecStart %q: want %s --config /etc/xauth-agent/agent.hcl", argv, agentBin)
	}
	runtimeDir := memDir(t)
	d := startDaemon(t, "client1", []string{"STATE_DIRECTORY=" + filepath.Join(dir, "state"), "RUNTIME_DIRECTORY=" + runtimeDir,
		"XAUTH_STATE_DIR=", "XAUTH_RUNTIME_DIR="}, "--config", filepath.Join(root, argv[2]))
	waitFor(t, 20*time.Second, "the token", func() bool { return readToken(sinkPath) != "" && fileExists(filepath.Join(runtimeDir, "resume.json")) })
	if _, err := tokenTTL(readToken(sinkPath)); err != nil {
		t.Fatalf("the installed agent's token: %v", err)
	}
	if !fileExists(filepath.Join(dir, "state", "lock")) {
		t.Error("no lock in $STATE_DIRECTORY")
	}
	d.stop(t, syscall.SIGTERM)
}

// execStart is the command line of a unit's ExecStart=.
func execStart(t *testing.T, unit string) []string {
	t.Helper()
	f, err := os.Open(unit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ExecStart="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatalf("%s has no ExecStart=", unit)
	return nil
}
