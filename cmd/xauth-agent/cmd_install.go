package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/xauth-agent/xauth-agent/deploy/systemd"
	"github.com/xauth-agent/xauth-agent/internal/atomicfile"
	"github.com/xauth-agent/xauth-agent/internal/ids"
)

const installUsage = `Usage: xauth-agent install systemd [--apply] [--root DIR] [--bin PATH]

Installs xauth-agent as a systemd service where no package did. Without
--apply it prints each file and what it would do, and writes nothing; with
--apply it writes:

  /etc/systemd/system/xauth-agent.service   the hardened unit (0644, replaced)
  /etc/systemd/system/xauth-agent@.service  the unit per config file (0644, replaced)
  /etc/sysusers.d/xauth-agent.conf          the xauth-agent user (0644, replaced)
  /etc/tmpfiles.d/xauth-agent.conf          /etc/xauth-agent (0644, replaced)
  /etc/xauth-agent/agent.hcl                a config skeleton (0640): never
                                            overwritten, an existing one is kept

They are the files the packages install (deploy/systemd), embedded. Then
run the commands it prints: systemd-sysusers, systemd-tmpfiles, edit the
config, systemctl enable --now xauth-agent.

Flags:
  --apply      write the files
  --root DIR   write under DIR instead of / (an image being built, tests)
  --bin PATH   the agent the units start (default /usr/bin/xauth-agent)

Exit codes:
  0  printed, or written
  1  a file could not be written
  2  usage error
`

// installed is a file install systemd writes: the embedded src as dst.
type installed struct {
	src, dst string
	mode     fs.FileMode
	config   bool // never overwritten; group xauth-agent
}

var systemdInstall = []installed{
	{"xauth-agent.service", "/etc/systemd/system/xauth-agent.service", 0o644, false},
	{"xauth-agent@.service", "/etc/systemd/system/xauth-agent@.service", 0o644, false},
	{"xauth-agent.sysusers", "/etc/sysusers.d/xauth-agent.conf", 0o644, false},
	{"xauth-agent.tmpfiles", "/etc/tmpfiles.d/xauth-agent.conf", 0o644, false},
	{"agent.hcl.example", "/etc/xauth-agent/agent.hcl", 0o640, true},
}

// defaultBin is where the units expect the agent.
const defaultBin = "/usr/bin/xauth-agent"

// agentGroup owns the config: the units run the agent as xauth-agent.
const agentGroup = "xauth-agent"

const installNext = `systemd-sysusers xauth-agent.conf            # the xauth-agent user and group
systemd-tmpfiles --create xauth-agent.conf   # /etc/xauth-agent, 0750 root:xauth-agent
chgrp xauth-agent /etc/xauth-agent/agent.hcl # the agent reads its config through its group
$EDITOR /etc/xauth-agent/agent.hcl           # vault.address, auth "aws" role, sinks
systemctl daemon-reload
systemctl enable --now xauth-agent
`

// runInstall is `xauth-agent install systemd`.
func runInstall(_ context.Context, args []string, s streams) error {
	fs := flag.NewFlagSet("xauth-agent install", flag.ContinueOnError)
	apply := fs.Bool("apply", false, "write the files")
	root := fs.String("root", "/", "write under this directory")
	bin := fs.String("bin", defaultBin, "the agent the units start")
	operands, afterDash, err := parse(fs, args, s.stdout, helpText(installUsage))
	if err != nil {
		return err
	}
	if len(operands) != 1 || operands[0] != "systemd" || len(afterDash) > 0 {
		return usageError(errors.New("install takes one target: xauth-agent install systemd [--apply] [--root DIR] [--bin PATH]"))
	}
	if !filepath.IsAbs(*root) || !filepath.IsAbs(*bin) {
		return usageError(fmt.Errorf("--root %q and --bin %q must be absolute paths", *root, *bin))
	}
	for _, f := range systemdInstall {
		data, err := installContent(f, *bin)
		if err != nil {
			return err
		}
		dst := filepath.Join(*root, f.dst)
		if !*apply {
			note := "replaced if present"
			if f.config {
				note = "written only if absent: an existing config is never overwritten"
			}
			fmt.Fprintf(s.stdout, "# ---- %s (mode %04o, %s)\n%s\n", dst, f.mode, note, data)
			continue
		}
		if err := installFile(s.stdout, f, dst, data, *root == "/"); err != nil {
			return err
		}
	}
	if !*apply {
		fmt.Fprintf(s.stdout, "# Nothing was written. xauth-agent install systemd --apply writes the files above; then run:\n%s", installNext)
		return nil
	}
	fmt.Fprintf(s.stdout, "\nNext:\n%s", installNext)
	return nil
}

// installContent is f's content, with the units starting bin.
func installContent(f installed, bin string) ([]byte, error) {
	data, err := systemd.Files.ReadFile(f.src)
	if err != nil {
		return nil, fmt.Errorf("embedded %s: %w", f.src, err)
	}
	if bin != defaultBin && strings.HasSuffix(f.src, ".service") {
		data = []byte(strings.ReplaceAll(string(data), "ExecStart="+defaultBin+" ", "ExecStart="+bin+" "))
	}
	return data, nil
}

// installFile writes data to dst as f says, and says what it did on w.
// The config is never overwritten; it gets the group xauth-agent when it
// is written to the live system (onHost) and the group exists.
func installFile(w io.Writer, f installed, dst string, data []byte, onHost bool) error {
	dirMode := fs.FileMode(0o755)
	if f.config {
		dirMode = 0o750
	}
	if err := os.MkdirAll(filepath.Dir(dst), dirMode); err != nil {
		return fmt.Errorf("install %s: %w", dst, err)
	}
	if f.config {
		if _, err := os.Lstat(dst); err == nil {
			fmt.Fprintf(w, "kept %s: it exists, and install never overwrites a config\n", dst)
			return nil
		}
	}
	gid := -1
	if f.config && onHost {
		if g, err := ids.GID(agentGroup); err == nil {
			gid = g
		}
	}
	if err := atomicfile.Write(dst, data, atomicfile.Options{Perm: f.mode, UID: -1, GID: gid}); err != nil {
		return fmt.Errorf("install %s: %w", dst, err)
	}
	fmt.Fprintf(w, "wrote %s (mode %04o)\n", dst, f.mode)
	return nil
}
