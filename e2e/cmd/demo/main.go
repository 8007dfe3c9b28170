// Command demo runs the seed scenario on loopback for `make demo`: it
// starts the stack (real Vault, loopback STS/IAM, one IMDS emulator per
// instance), runs xauth-agent --once as client1 and client2, shows the
// token files (never the full token), then a refused login with its
// explanation, and tears everything down.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := stack.BinDir()
	step("starting the loopback stack: Vault %s core, STS/IAM fake, IMDS emulators", "1.21.4")
	var logs bytes.Buffer
	st, err := stack.Start(ctx, stack.Options{BinDir: bin, Logs: &logs})
	if err != nil {
		return fmt.Errorf("%w\n%s", err, logs.String())
	}
	defer st.Close()
	fmt.Printf("  vault    %s (account %s, config/sts/%s -> %s)\n", st.VaultAddr, stack.PrimaryAccount, stack.SecondaryAccount, stack.TrustRoleARN)
	fmt.Printf("  aws fake %s\n", st.AWS.URL())
	for _, n := range []string{"client1", "client2", "pathed"} {
		in := st.Instances[n]
		fmt.Printf("  %-8s IMDSv2 %s, instance role %s\n", n, in.IMDS, in.RoleARN())
	}
	dir, err := os.MkdirTemp("", "xauth-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	for _, c := range []struct{ instance, role string }{{"client1", "vault-role"}, {"client2", "vault-role2"}} {
		file := filepath.Join(dir, c.instance, "token")
		if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
			return err
		}
		step("%s: xauth-agent --once --role %s --header-value %s --sink-file %s", c.instance, c.role, stack.HeaderValue, file)
		code, _, stderr := agent(ctx, bin, st, c.instance, "--once", "--role", c.role, "--header-value", stack.HeaderValue, "--sink-file", file, "--log-format", "console")
		fmt.Print(indent(stderr))
		if code != 0 {
			return fmt.Errorf("%s: exit %d", c.instance, code)
		}
		if err := show(st, file); err != nil {
			return err
		}
	}

	file := filepath.Join(dir, "client1", "token")
	step("refused: client1 -> vault-role2 (bound to role/secondary* only); the token file must stay as it is")
	before, _ := os.ReadFile(file)
	code, _, stderr := agent(ctx, bin, st, "client1", "--once", "--role", "vault-role2", "--header-value", stack.HeaderValue, "--sink-file", file, "--log-format", "console")
	fmt.Print(indent(stderr))
	after, _ := os.ReadFile(file)
	fmt.Printf("  exit code %d (5 = login refused); token file unchanged: %v\n", code, bytes.Equal(before, after))
	if code != 5 || !bytes.Equal(before, after) {
		return errors.New("the refused case did not behave as expected")
	}
	step("done: stopping Vault, the fake and the emulators")
	return nil
}

func agent(ctx context.Context, bin string, st *stack.Stack, instance string, args ...string) (int, string, string) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "xauth-agent"), args...)
	cmd.Env = append(st.Instances[instance].Env(), "VAULT_ADDR="+st.VaultAddr)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		return -1, out.String(), err.Error()
	}
	return 0, out.String(), errb.String()
}

// show prints a token file's path, mode and what Vault says about the
// token, with the token itself masked.
func show(st *stack.Stack, file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	tok, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	c, err := st.Vault.Clone()
	if err != nil {
		return err
	}
	c.SetToken(string(tok))
	s, err := c.Auth().Token().LookupSelf()
	if err != nil {
		return fmt.Errorf("lookup-self: %w", err)
	}
	policies, _ := s.TokenPolicies()
	ttl, _ := s.TokenTTL()
	fmt.Printf("  file     %s  mode %v  %d bytes\n", file, fi.Mode().Perm(), fi.Size())
	fmt.Printf("  token    %s… (masked)\n", string(tok[:min(8, len(tok))]))
	fmt.Printf("  vault    lookup-self: policies %v, ttl %v, meta %v\n", policies, ttl, s.Data["meta"])
	return nil
}

func step(format string, a ...any) { fmt.Printf("\n==> "+format+"\n", a...) }

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  | " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  | ") + "\n"
}
