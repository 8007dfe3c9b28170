package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// The Vault CLI's token_helper pointed at xauth-agent: Vault runs
// "<helper> get" and reads the token from stdout, "<helper> store" with the
// token on stdin, "<helper> erase"; then it sends the token as X-Vault-Token.
func TestTokenHelperForVaultCLI(t *testing.T) {
	dir, err := os.MkdirTemp("", "xa-th-") // unix socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "agent.sock")
	cfgPath := writeFile(t, "agent.hcl", fmt.Sprintf(`vault {
  address = %q
}
auth "aws" {
  role         = "vault-role"
  header_value = %q
}
sink "socket" {
  path       = %q
  allow_uids = [%d]
}
`, st.VaultAddr, stack.HeaderValue, sock, os.Getuid()))
	startDaemon(t, "client1", nil, "--config", cfgPath)

	helper := filepath.Join(dir, "xauth-agent-token-helper")
	if err := os.Symlink(agentBin, helper); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// As the vault CLI runs it: no flags, the verb only; the socket comes
	// from the environment.
	runHelper := func(verb, stdin string) (string, int) {
		cmd := exec.CommandContext(ctx, helper, verb)
		cmd.Env = append(os.Environ(), "XAUTH_AGENT_SOCKET="+sock)
		cmd.Stdin = strings.NewReader(stdin)
		out, _ := cmd.Output()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, err := exec.CommandContext(ctx, agentBin, "wait", "--socket", sock, "--timeout", "20s").CombinedOutput(); err != nil {
		t.Fatalf("xauth-agent wait: %v\n%s", err, out)
	}
	tok, code := runHelper("get", "")
	if code != 0 || tok == "" || strings.ContainsAny(tok, " \n") {
		t.Fatalf("helper get: exit %d, stdout %q; want the bare token", code, tok)
	}
	for _, verb := range []string{"store", "erase"} {
		if out, code := runHelper(verb, "hvs.something-else"); code != 0 || out != "" {
			t.Errorf("helper %s: exit %d, stdout %q; want a silent 0", verb, code, out)
		}
	}
	if again, _ := runHelper("get", ""); again != tok {
		t.Error("store/erase changed the token the helper returns")
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.VaultAddr+"/v1/auth/token/lookup-self", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"accessor"`) {
		t.Fatalf("lookup-self with the helper's token: %s\n%s", resp.Status, body)
	}
}
