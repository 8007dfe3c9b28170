package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// consul-template reads the token from our file sink (as from Vault
// Agent's) and renders a KV v2 secret; after the agent replaced the token
// (max TTL 12 s) and the first one expired, it still renders the changed
// secret with the new token.
func TestConsulTemplateWithFileSink(t *testing.T) {
	ct := filepath.Join(stack.BinDir(), "consul-template")
	if _, err := os.Stat(ct); err != nil {
		t.Skipf("%s missing: run make tools (it installs consul-template)", ct)
	}
	shortRole(t, "ct-short")
	if _, err := st.Vault.Logical().Write("sys/mounts/ct-secret", map[string]any{
		"type": "kv", "options": map[string]any{"version": "2"},
	}); err != nil {
		t.Fatalf("mount kv v2: %v", err)
	}
	put := func(v string) {
		t.Helper()
		var err error
		for range 50 { // a new kv v2 mount upgrades itself for a moment
			if _, err = st.Vault.Logical().Write("ct-secret/data/app", map[string]any{"data": map[string]any{"password": v}}); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("write the secret: %v", err)
	}
	put("one")

	dir := t.TempDir()
	tokFile, rendered := filepath.Join(dir, "token"), filepath.Join(dir, "rendered")
	startDaemon(t, "client1", nil, "--role", "ct-short", "--header-value", stack.HeaderValue, "--sink-file", tokFile)
	waitFor(t, 15*time.Second, "the first token", func() bool { return readToken(tokFile) != "" })
	first := readToken(tokFile)

	cfg := writeFile(t, "ct.hcl", fmt.Sprintf(`vault {
  address                = %q
  vault_agent_token_file = %q
  renew_token            = false
  default_lease_duration = "2s"
}
template {
  contents    = "{{ with secret \"ct-secret/data/app\" }}{{ .Data.data.password }}{{ end }}"
  destination = %q
}
`, st.VaultAddr, tokFile, rendered))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, ct, "-config", cfg, "-log-level", "info")
	cmd.Env = append(os.Environ(), "VAULT_ADDR=", "VAULT_TOKEN=")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("consul-template log:\n%s", logs.String())
		}
	}()
	waitFor(t, 20*time.Second, "the first render", func() bool { return readToken(rendered) == "one" })

	waitFor(t, 30*time.Second, "the agent to replace the token and the first one to expire", func() bool {
		_, err := tokenTTL(first)
		return readToken(tokFile) != first && err != nil
	})
	put("two")
	waitFor(t, 30*time.Second, "a render of the changed secret", func() bool { return readToken(rendered) == "two" })
}
