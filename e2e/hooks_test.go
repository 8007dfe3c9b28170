package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// writeConfig writes an agent config for the short-lived role and returns its path.
func writeConfig(t *testing.T, dir, role, rest string) string {
	t.Helper()
	cfg := fmt.Sprintf(`vault {
  address = %q
}
auth "aws" {
  role         = %q
  header_value = %q
}
%s`, st.VaultAddr, role, stack.HeaderValue, rest)
	p := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// lines returns the non-empty lines of a file.
func lines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(string(b))
}

// on_change runs once for each new token the file gets, never for a
// renewal, with XAUTH_SINK_PATH and without VAULT_TOKEN or the token in
// its environment; its runs are counted on /metrics.
func TestOnChangeOnRealVault(t *testing.T) {
	shortRole(t, "onchange-short")
	dir := t.TempDir()
	port := freeTCPPort(t)
	// The command records the token it finds in the file, and its environment.
	script := `cat "$XAUTH_SINK_PATH" >> "$0/seen"; echo >> "$0/seen"; env > "$0/env"`
	cfgPath := writeConfig(t, dir, "onchange-short", fmt.Sprintf(`sink "file" {
  path            = "%[1]s/token"
  on_change       = ["/bin/sh", "-c", %[2]q, %[1]q]
  on_change_splay = "500ms"
}
health {
  address = "127.0.0.1:%[3]s"
}
`, dir, script, port))
	const operatorToken = "hvs.operator-token-not-for-hooks"
	d := startDaemon(t, "client1", []string{"VAULT_TOKEN=" + operatorToken}, "--config", cfgPath)

	// Tokens live 4 s, at most 12 s: renewals every few seconds, a new
	// token about every 10 s.
	written := map[string]bool{}
	deadline := time.Now().Add(28 * time.Second)
	for time.Now().Before(deadline) {
		if tok := readToken(filepath.Join(dir, "token")); tok != "" {
			written[tok] = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "on_change for the last token", func() bool {
		seen := lines(filepath.Join(dir, "seen"))
		return len(seen) > 0 && seen[len(seen)-1] == readToken(filepath.Join(dir, "token"))
	})
	seen := lines(filepath.Join(dir, "seen"))
	distinct := map[string]bool{}
	for _, tok := range seen {
		if distinct[tok] {
			t.Errorf("on_change ran twice for one token: a renewal ran it")
		}
		distinct[tok] = true
		if !written[tok] {
			t.Errorf("on_change saw a token the file never held")
		}
	}
	t.Logf("%d tokens written, %d on_change runs", len(written), len(seen))
	if len(seen) < 2 || len(seen) > len(written) {
		t.Errorf("%d on_change runs for %d tokens: want one per new token (at least 2)", len(seen), len(written))
	}
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env), "XAUTH_SINK_PATH="+filepath.Join(dir, "token")+"\n") {
		t.Errorf("XAUTH_SINK_PATH is not the sink's file:\n%s", env)
	}
	if strings.Contains(string(env), "VAULT_TOKEN") || strings.Contains(string(env), operatorToken) {
		t.Error("VAULT_TOKEN reached the on_change command's environment")
	}
	for tok := range written {
		if strings.Contains(string(env), tok) {
			t.Error("a token is in the on_change command's environment")
		}
	}
	_, metrics := httpGet(t, "http://127.0.0.1:"+port+"/metrics")
	if !strings.Contains(metrics, `xauth_on_change_runs_total{result="ok"} `+fmt.Sprint(len(seen))) {
		t.Errorf("/metrics does not count %d ok runs:\n%s", len(seen), grepLines(metrics, "on_change"))
	}
	if !strings.Contains(d.stderr.String(), `"on_change ran"`) {
		t.Error("no log line for the on_change runs")
	}
}

// /v1/livez and /v1/readyz on the socket and on the health listener:
// readyz is 200 only while every sink holds the current token, and names
// a failing sink; the listener serves nothing but the probes and /metrics;
// a non-loopback health address is refused when the configuration loads.
func TestHealthProbesOnRealVault(t *testing.T) {
	shortRole(t, "health-short")
	dir, err := os.MkdirTemp("", "xa-health-") // unix socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	port := freeTCPPort(t)
	sock := filepath.Join(dir, "agent.sock")
	file := filepath.Join(dir, "token")
	cfgPath := writeConfig(t, dir, "health-short", fmt.Sprintf(`sink "file" {
  path = %q
}
sink "socket" {
  path       = %q
  allow_uids = [0]
}
health {
  address = "127.0.0.1:%s"
}
`, file, sock, port))
	d := startDaemon(t, "client1", nil, "--config", cfgPath)
	base := "http://127.0.0.1:" + port

	waitFor(t, 20*time.Second, "readyz 200 on the health listener", func() bool {
		code, _ := httpGet(t, base+"/v1/readyz")
		return code == http.StatusOK
	})
	ready := readiness(t, base+"/v1/readyz", http.StatusOK)
	if !ready.Ready || ready.Generation == 0 || len(ready.Sinks) != 2 ||
		ready.Sinks[0].Type != "file" || ready.Sinks[0].Path != file || ready.Sinks[0].State != "current" ||
		ready.Sinks[1].Type != "socket" || ready.Sinks[1].Path != sock {
		t.Errorf("readyz: %+v", ready)
	}
	if code, body := httpGet(t, base+"/v1/livez"); code != http.StatusOK || !strings.Contains(body, `"live":true`) {
		t.Errorf("livez: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "xauth_logins_total") {
		t.Errorf("/metrics on the health listener: %d", code)
	}
	tok := readToken(file)
	for _, p := range []string{"/v1/token", "/v1/status", "/v1/health", "/"} {
		code, body := httpGet(t, base+p)
		if code != http.StatusNotFound || strings.Contains(body, tok) {
			t.Errorf("%s on the health listener: %d, want 404", p, code)
		}
	}
	// The same probes on the socket.
	out, err := exec.Command("curl", "-sS", "--unix-socket", sock, "-H", "X-Xauth-Request: true", "http://localhost/v1/readyz").Output()
	if err != nil || !strings.Contains(string(out), `"ready":true`) {
		t.Errorf("readyz on the socket (%v): %s", err, out)
	}

	// A directory where the file goes: the next token cannot be written.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(file, 0o700); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "readyz 503 with the file sink failing", func() bool {
		code, _ := httpGet(t, base+"/v1/readyz")
		return code == http.StatusServiceUnavailable
	})
	failing := readiness(t, base+"/v1/readyz", http.StatusServiceUnavailable)
	if failing.Ready || failing.Sinks[0].State != "failing" || !strings.Contains(failing.Sinks[0].Error, "is a directory") {
		t.Errorf("readyz with a failing sink: %+v", failing)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "readyz 200 once the sink writes again", func() bool {
		code, _ := httpGet(t, base+"/v1/readyz")
		return code == http.StatusOK
	})

	// SIGHUP moves the listener to a new address.
	moved := freeTCPPort(t)
	src, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(src), "127.0.0.1:"+port, "127.0.0.1:"+moved, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the health listener on its new address", func() bool {
		code, _ := httpGet(t, "http://127.0.0.1:"+moved+"/v1/livez")
		return code == http.StatusOK
	})
	if code, _ := httpGet(t, base+"/v1/livez"); code != 0 {
		t.Errorf("the old health address still answers (%d) after the reload", code)
	}

	// Refused at load: the listener would serve the metrics to the network.
	bad := writeConfig(t, t.TempDir(), "vault-role", "health {\n  address = \"0.0.0.0:9105\"\n}\n")
	res := runAgent(t, "client1", nil, "validate", "--config", bad)
	if res.code != exitUsage || !strings.Contains(res.stdout+res.stderr, "health.address") {
		t.Errorf("validate with health.address 0.0.0.0: exit %d, want %d naming health.address\n%s%s", res.code, exitUsage, res.stdout, res.stderr)
	}
}

// wrap_ttl: the file holds a wrapping token, never the token; unwrapping it
// on the real Vault gives the agent's current token. A Vault Agent config
// with a sink wrap_ttl logs in as it is (Vault Agent's wrap info JSON) and
// converts.
func TestWrapTTLOnRealVault(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "vault-role", fmt.Sprintf(`sink "file" {
  path = "%[1]s/token"
}
sink "file" {
  path     = "%[1]s/wrapped"
  wrap_ttl = "5m"
}
sink "socket" {
  path = "%[2]s"
}
`, dir, filepath.Join(dir, "agent.sock")))
	startDaemon(t, "client1", nil, "--config", cfgPath)
	waitFor(t, 20*time.Second, "both sinks", func() bool {
		return readToken(filepath.Join(dir, "token")) != "" && readToken(filepath.Join(dir, "wrapped")) != ""
	})
	tok, wrapped := readToken(filepath.Join(dir, "token")), readToken(filepath.Join(dir, "wrapped"))
	if wrapped == tok {
		t.Fatal("the wrap_ttl sink holds the token itself")
	}
	agentAccessor := lookupSelf(t, tok).Data["accessor"]
	unwrapped := unwrap(t, wrapped)
	if got := lookupSelf(t, unwrapped).Data["accessor"]; got != agentAccessor {
		t.Errorf("the unwrapped token's accessor is %v, want the agent's current %v", got, agentAccessor)
	}
	if _, err := st.Vault.Logical().Unwrap(wrapped); err == nil {
		t.Error("the wrapping token could be unwrapped twice")
	}

	// A Vault Agent config with a sink wrap_ttl: Vault Agent's wrap info JSON.
	va := fmt.Sprintf(`exit_after_auth = true
vault {
  address = %q
}
auto_auth {
  method "aws" {
    config = {
      type         = "iam"
      role         = "vault-role"
      header_value = %q
    }
  }
  sink "file" {
    wrap_ttl = "2m"
    config = {
      path = "%s/va-wrapped"
    }
  }
}
`, st.VaultAddr, stack.HeaderValue, dir)
	vaPath := filepath.Join(dir, "vault-agent.hcl")
	if err := os.WriteFile(vaPath, []byte(va), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := runAgent(t, "client1", nil, "--config", vaPath); res.code != exitOK {
		t.Fatalf("vault agent config with wrap_ttl: exit %d\n%s", res.code, res.stderr)
	}
	var info struct {
		Token        string    `json:"token"`
		TTL          int       `json:"ttl"`
		CreationTime time.Time `json:"creation_time"`
		CreationPath string    `json:"creation_path"`
	}
	if err := json.Unmarshal([]byte(readToken(filepath.Join(dir, "va-wrapped"))), &info); err != nil {
		t.Fatalf("the Vault Agent sink does not hold wrap info JSON: %v", err)
	}
	if info.TTL != 120 || info.CreationPath != "sys/wrapping/wrap" || info.CreationTime.IsZero() {
		t.Errorf("wrap info %+v, want ttl 120 from sys/wrapping/wrap", info)
	}
	lookupSelf(t, unwrap(t, info.Token))
	conv := runAgent(t, "client1", nil, "convert", vaPath)
	if conv.code != exitOK || !strings.Contains(conv.stdout, `wrap_ttl = "2m0s"`) && !strings.Contains(conv.stdout, `wrap_ttl = "2m"`) {
		t.Errorf("convert: exit %d, want wrap_ttl in:\n%s%s", conv.code, conv.stdout, conv.stderr)
	}
}

// unwrap unwraps a wrapping token on the real Vault (as the wrapping token
// itself) and returns the token it held.
func unwrap(t *testing.T, wrapping string) string {
	t.Helper()
	c, err := st.Vault.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(wrapping)
	s, err := c.Logical().Unwrap("")
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	tok, _ := s.Data["token"].(string)
	if tok == "" {
		t.Fatalf("the wrapping token held no token: %v", s.Data)
	}
	return tok
}

// readinessAnswer is /v1/readyz's JSON.
type readinessAnswer struct {
	Ready      bool   `json:"ready"`
	Generation uint64 `json:"generation"`
	Sinks      []struct {
		Type, Path, State, Error string
		Generation               uint64
	} `json:"sinks"`
}

func readiness(t *testing.T, url string, wantCode int) readinessAnswer {
	t.Helper()
	code, body := httpGet(t, url)
	var r readinessAnswer
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != wantCode {
		t.Fatalf("%s: %d %s (%v), want %d", url, code, body, err, wantCode)
	}
	return r
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A restart that keeps its token (runtime_dir) writes the sink again but
// does not run on_change: the file held that token already. A wrap_ttl
// sink gets a new wrapping token, and its on_change runs.
func TestOnChangeAcrossRestartWithoutLogin(t *testing.T) {
	hourRole(t, "onchange-restart")
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "onchange-restart", fmt.Sprintf(`sink "file" {
  path      = "%[1]s/token"
  on_change = ["/bin/sh", "-c", "echo run >> \"$0\"", "%[1]s/plain-runs"]
}
sink "file" {
  path      = "%[1]s/wrapped"
  wrap_ttl  = "5m"
  on_change = ["/bin/sh", "-c", "echo run >> \"$0\"", "%[1]s/wrapped-runs"]
}
`, dir))
	// Flags: startDaemon's environment gives each run directories of its own.
	args := []string{"--config", cfgPath, "--state-dir", filepath.Join(dir, "state"), "--runtime-dir", memDir(t)}
	d := startDaemon(t, "client1", nil, args...)
	runs := func(name string) int { return len(lines(filepath.Join(dir, name))) }
	waitFor(t, 20*time.Second, "on_change for the first token", func() bool { return runs("plain-runs") == 1 && runs("wrapped-runs") == 1 })
	first, firstWrap := readToken(filepath.Join(dir, "token")), readToken(filepath.Join(dir, "wrapped"))
	if code, _ := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}

	startDaemon(t, "client1", nil, args...)
	waitFor(t, 20*time.Second, "a new wrapping token after the restart", func() bool {
		w := readToken(filepath.Join(dir, "wrapped"))
		return w != "" && w != firstWrap && runs("wrapped-runs") == 2
	})
	if readToken(filepath.Join(dir, "token")) != first {
		t.Fatal("the restart did not keep its token")
	}
	if n := runs("plain-runs"); n != 1 {
		t.Errorf("%d on_change runs for the plain sink, want 1: the restart kept the token the file held", n)
	}
	if got := lookupSelf(t, unwrap(t, readToken(filepath.Join(dir, "wrapped")))).Data["accessor"]; got != lookupSelf(t, first).Data["accessor"] {
		t.Errorf("the new wrapping token holds another token (accessor %v)", got)
	}
}
