package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// Exit codes of xauth-agent (cmd/xauth-agent/exit.go).
const (
	exitOK          = 0
	exitUsage       = 2
	exitCredentials = 3
	exitUnreachable = 4
	exitRefused     = 5
	exitSink        = 6
)

var (
	st       *stack.Stack
	agentBin string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	bin := stack.BinDir()
	agentBin = filepath.Join(bin, "xauth-agent")
	if _, err := os.Stat(agentBin); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %s missing: run make build (XAUTH_BIN_DIR=%s)\n", agentBin, bin)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	var logs bytes.Buffer // read only after Start failed, when every process has stopped
	st, err = stack.Start(ctx, stack.Options{BinDir: bin, Logs: &logs})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stack: %v\n%s", err, logs.String())
		return 1
	}
	defer st.Close()
	code := m.Run()
	if reportLeaks() != 0 {
		code = 1
	}
	return code
}

// result is one agent run.
type result struct {
	code           int
	stdout, stderr string
}

// runAgent runs the built agent binary as a process on the named instance,
// with debug logging unless args or env set a level; its log output must
// not show a secret (secrets_test.go).
func runAgent(t *testing.T, instance string, env []string, args ...string) result {
	t.Helper()
	return runBinary(t, instance, env, withDebugLog(args, env), false)
}

// runBinary runs the agent binary with exactly args and puts the run under
// the leak scan. With report, stdout is a report for people (diagnose) and
// is scanned like the log; otherwise it is token output.
func runBinary(t *testing.T, instance string, env, args []string, report bool) result {
	t.Helper()
	return runProcess(t, agentRun{instance: instance, env: env, args: args, report: report})
}

// agentRun is how runProcess runs the agent: on instance, with env added to
// the instance's environment (after the variables in unset are taken out of
// it), through wrapper (a command line the agent's is appended to), with
// exactly args.
type agentRun struct {
	instance string
	env      []string
	unset    []string
	wrapper  []string
	args     []string
	report   bool
}

func runProcess(t *testing.T, a agentRun) result {
	t.Helper()
	w := watchRun(t, a.args, false)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	argv := append(append(append([]string(nil), a.wrapper...), agentBin), a.args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	for _, kv := range append(st.Instances[a.instance].Env(), "VAULT_ADDR="+st.VaultAddr) {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(a.unset, k) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, a.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run agent %q: %v", argv, err)
	}
	if a.report {
		w.finish("", r.stdout+"\n"+r.stderr)
	} else {
		w.finish(r.stdout, r.stderr)
	}
	return r
}

// lookupSelf checks a token against the real Vault.
func lookupSelf(t *testing.T, token string) *api.Secret {
	t.Helper()
	c, err := st.Vault.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	s, err := c.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("lookup-self with the written token: %v", err)
	}
	return s
}

func policiesOf(t *testing.T, s *api.Secret) []string {
	t.Helper()
	p, err := s.TokenPolicies()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The acceptance matrix of shared/SCENARIO.md, through the agent binary.
func TestAcceptanceMatrixAgent(t *testing.T) {
	type row struct {
		instance, role string
		extra          []string
		wantCode       int
		wantMsg        []string
	}
	rows := []row{
		{"client1", "vault-role", nil, exitOK, nil},
		{"client2", "vault-role", nil, exitOK, nil},
		{"client1", "vault-role1", nil, exitOK, nil},
		{"client2", "vault-role2", nil, exitOK, nil},
		{"client1", "vault-role2", nil, exitRefused, []string{
			`does not belong to the role "vault-role2"`, "principal not bound",
			"arn:aws:iam::222222222222:role/vault-secondary-role1"}},
		{"client2", "vault-role1", nil, exitRefused, []string{"principal not bound", "arn:aws:iam::222222222222:role/secondary-role2"}},
		{"client1", "vault-role", []string{"--header-value", "not-the-server"}, exitRefused, []string{
			"server ID header mismatch", `expects X-Vault-AWS-IAM-Server-ID "` + stack.HeaderValue + `"`, `sent "not-the-server"`}},
		{"client2", "vault-role2", []string{"--header-value", "not-the-server"}, exitRefused, []string{"server ID header mismatch"}},
		{"pathed", "vault-role", nil, exitRefused, []string{"principal not bound", "IAM path", "role/team/name*"}},
	}
	for _, r := range rows {
		name := fmt.Sprintf("%s/%s", r.instance, r.role)
		if r.extra != nil {
			name += "/wrong-header"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tokenFile := filepath.Join(dir, "token")
			const previous = "hvs.previous-valid-token"
			if err := os.WriteFile(tokenFile, []byte(previous), 0o600); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Stat(tokenFile)
			args := append([]string{"--once", "--role", r.role, "--sink-file", tokenFile, "--header-value", stack.HeaderValue}, r.extra...)
			res := runAgent(t, r.instance, nil, args...)
			if res.code != r.wantCode {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", res.code, r.wantCode, res.stderr)
			}
			got, err := os.ReadFile(tokenFile)
			if err != nil {
				t.Fatal(err)
			}
			if r.wantCode != exitOK {
				for _, m := range r.wantMsg {
					if !strings.Contains(res.stderr, m) {
						t.Errorf("stderr lacks %q:\n%s", m, res.stderr)
					}
				}
				after, _ := os.Stat(tokenFile)
				if string(got) != previous || !after.ModTime().Equal(before.ModTime()) || !os.SameFile(before, after) {
					t.Errorf("a refused login touched the existing token file (content %q)", got)
				}
				return
			}
			if string(got) == previous {
				t.Fatal("token file was not replaced")
			}
			if strings.Contains(res.stderr, string(got)) {
				t.Error("the token appears in the agent's log output")
			}
			fi, _ := os.Stat(tokenFile)
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
			}
			if p := policiesOf(t, lookupSelf(t, string(got))); !slices.Contains(p, "admin") {
				t.Errorf("token policies %v lack admin", p)
			}
		})
	}
}

func TestCustomMountAndHeader(t *testing.T) {
	ctx := context.Background()
	const mount, header = "aws-xacct", "custom-server-id"
	if err := st.EnableAWSMount(ctx, mount, header); err != nil {
		t.Fatal(err)
	}
	res := runAgent(t, "client2", nil, "--once", "--mount", mount, "--role", "vault-role2", "--header-value", header)
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	lookupSelf(t, strings.TrimSpace(res.stdout))
	res = runAgent(t, "client2", nil, "--once", "--mount", mount, "--role", "vault-role2", "--header-value", stack.HeaderValue)
	if res.code != exitRefused || !strings.Contains(res.stderr, `"`+header+`"`) {
		t.Fatalf("exit %d, want refusal naming the expected header: %s", res.code, res.stderr)
	}
}

func TestConfigFileIMDSv2OnlyAndFormats(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
vault {
  address = %q
}
auth "aws" {
  role         = "vault-role1"
  header_value = %q
  imds_v2_only = true
}
sink "file" {
  path = "%s/token"
}
sink "file" {
  path   = "%s/token.json"
  format = "json"
  mode   = "0640"
}
sink "file" {
  path   = "%s/token.env"
  format = "env"
}
`, st.VaultAddr, stack.HeaderValue, dir, dir, dir)
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runAgent(t, "client1", []string{"VAULT_ADDR="}, "--once", "--config", path, "--log-level", "debug")
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "token"))
	lookupSelf(t, string(raw))
	var js struct {
		Token, Accessor string
		Policies        []string
		LeaseDuration   int `json:"lease_duration"`
		Renewable       bool
		ExpiresAt       time.Time `json:"expires_at"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "token.json"))
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatalf("json sink: %v: %s", err, b)
	}
	if js.Token != string(raw) || js.Accessor == "" || !slices.Contains(js.Policies, "admin") || js.LeaseDuration <= 0 || !js.Renewable || js.ExpiresAt.Before(time.Now()) {
		t.Errorf("json sink content: %+v", js)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "token.json")); fi.Mode().Perm() != 0o640 {
		t.Errorf("json sink mode %v, want 0640", fi.Mode().Perm())
	}
	env, _ := os.ReadFile(filepath.Join(dir, "token.env"))
	if string(env) != "VAULT_TOKEN="+string(raw)+"\n" {
		t.Errorf("env sink = %q", env)
	}
	if strings.Contains(res.stderr, string(raw)) {
		t.Error("debug log output contains the token")
	}
	for _, in := range st.Instances {
		if strings.Contains(res.stderr, in.Creds.SecretAccessKey) || strings.Contains(res.stderr, in.Creds.SessionToken) {
			t.Error("debug log output contains AWS secrets")
		}
	}
}

func TestOnceStdout(t *testing.T) {
	res := runAgent(t, "client1", nil, "--once", "--role", "vault-role", "--header-value", stack.HeaderValue, "--output", "json")
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	var js struct{ Token string }
	if err := json.Unmarshal([]byte(res.stdout), &js); err != nil || js.Token == "" {
		t.Fatalf("stdout is not the json form: %q", res.stdout)
	}
	lookupSelf(t, js.Token)
}

func TestFailureExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		wantMsg  string
	}{
		{"region signed differs from the endpoint", nil, []string{"--sts-region", "us-west-2"}, exitRefused, `signed for region "us-west-2"`},
		{"no server id header", nil, []string{"--header-value", ""}, exitRefused, "sent none"},
		{"role does not exist", nil, []string{"--role", "no-such-role"}, exitRefused, `role "no-such-role" does not exist`},
		{"mount does not exist", nil, []string{"--mount", "nope"}, exitRefused, "auth/nope"},
		{"vault unreachable", nil, []string{"--vault-addr", "http://127.0.0.1:1"}, exitUnreachable, "vault unreachable"},
		{"no credentials", []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1"}, nil, exitCredentials, "aws credentials unavailable"},
		{"unknown config key", nil, []string{"--config", writeFile(t, "bad.hcl", "vault {\n  adress = \"x\"\n}\n")}, exitUsage, "bad.hcl:2"},
		{"sink directory missing", nil, []string{"--sink-file", "/nonexistent-dir/token"}, exitSink, "/nonexistent-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--once", "--role", "vault-role", "--header-value", stack.HeaderValue}, tt.args...)
			res := runAgent(t, "client1", tt.env, args...)
			if res.code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", res.code, tt.wantCode, res.stderr)
			}
			if !strings.Contains(res.stderr, tt.wantMsg) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantMsg, res.stderr)
			}
		})
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
