package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xauth-agent/xauth-agent/deploy/systemd"
)

func runInstallCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runStreams(context.Background(), append([]string{"install"}, args...), streams{nil, &out, &errOut})
	return code, out.String(), errOut.String()
}

// Without --apply, install prints every file and writes nothing.
func TestInstallSystemdPrints(t *testing.T) {
	root := t.TempDir()
	code, out, _ := runInstallCmd("systemd", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range systemdInstall {
		want, _ := systemd.Files.ReadFile(f.src)
		if !strings.Contains(out, filepath.Join(root, f.dst)) || !strings.Contains(out, string(want)) {
			t.Errorf("the output lacks %s with the content of deploy/systemd/%s", f.dst, f.src)
		}
	}
	if !strings.Contains(out, "Nothing was written") || !strings.Contains(out, "systemctl enable --now xauth-agent") {
		t.Error("the output does not say that nothing was written, and what to run")
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("without --apply, %d entries were made under the root", len(entries))
	}
}

// --apply writes the files with their modes; a second run replaces the
// units but keeps the config; --bin changes what the units start.
func TestInstallSystemdApply(t *testing.T) {
	root := t.TempDir()
	if code, out, errOut := runInstallCmd("systemd", "--apply", "--root", root, "--bin", "/usr/local/bin/xauth-agent"); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	for _, f := range systemdInstall {
		fi, err := os.Stat(filepath.Join(root, f.dst))
		if err != nil || fi.Mode().Perm() != f.mode {
			t.Errorf("%s: %v %v; want mode %04o", f.dst, fi, err, f.mode)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(root, "/etc/systemd/system/xauth-agent.service"))
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/xauth-agent --config /etc/xauth-agent/agent.hcl\n") ||
		!strings.Contains(string(unit), "StateDirectory=xauth-agent\n") || !strings.Contains(string(unit), "RuntimeDirectoryPreserve=restart\n") {
		t.Errorf("unit:\n%s\nwant ExecStart with --bin, StateDirectory= and RuntimeDirectoryPreserve=restart", unit)
	}

	cfg := filepath.Join(root, "/etc/xauth-agent/agent.hcl")
	if err := os.WriteFile(cfg, []byte("# edited\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runInstallCmd("systemd", "--apply", "--root", root)
	if b, _ := os.ReadFile(cfg); code != 0 || string(b) != "# edited\n" || !strings.Contains(out, "kept "+cfg) {
		t.Fatalf("second apply: exit %d, config %q, output %q; want the edited config kept, and said", code, b, out)
	}
}

func TestInstallUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"upstart"}, {"systemd", "extra"}, {"systemd", "--root", "rel"}} {
		if code, _, errOut := runInstallCmd(args...); code != 2 || errOut == "" {
			t.Errorf("install %q: exit %d, stderr %q; want a usage error", args, code, errOut)
		}
	}
}
