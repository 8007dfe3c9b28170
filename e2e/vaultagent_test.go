package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// A Vault Agent config in the shape of Vault's documented aws-method and
// file-sink examples logs in on the real stack as it is, and `convert`
// turns it into a native config that does the same.
func TestVaultAgentConfigLogsInAndConverts(t *testing.T) {
	dir := t.TempDir()
	vaPath := filepath.Join(dir, "vault-agent.hcl")
	va := fmt.Sprintf(`# Vault Agent: aws auth (iam), one file sink, exit after the first token.
exit_after_auth = true
pid_file        = "%s/agent.pid"

vault {
  address = %q
}

auto_auth {
  method "aws" {
    mount_path = "auth/aws"
    config = {
      type         = "iam"
      role         = "vault-role1"
      header_value = %q
    }
  }

  sink "file" {
    config = {
      path = "%s/va-token"
      mode = 0600
    }
  }
}

template {
  source      = "/etc/app.ctmpl"
  destination = "/etc/app.conf"
}
`, dir, st.VaultAddr, stack.HeaderValue, dir)
	if err := os.WriteFile(vaPath, []byte(va), 0o600); err != nil {
		t.Fatal(err)
	}

	// exit_after_auth: no --once needed.
	res := runAgent(t, "client1", []string{"VAULT_ADDR="}, "--config", vaPath)
	if res.code != exitOK {
		t.Fatalf("vault agent config: exit %d\n%s", res.code, res.stderr)
	}
	for _, w := range []string{"template", "pid_file"} {
		if !strings.Contains(res.stderr, w) {
			t.Errorf("no warning naming the ignored %q stanza:\n%s", w, res.stderr)
		}
	}
	tok := readToken(filepath.Join(dir, "va-token"))
	if p := policiesOf(t, lookupSelf(t, tok)); !strings.Contains(strings.Join(p, ","), "admin") {
		t.Errorf("policies %v lack admin", p)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "va-token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("sink mode %v, want 0600 as Vault Agent would write it", fi.Mode().Perm())
	}

	// convert → a native config that logs in the same way.
	conv := runAgent(t, "client1", nil, "convert", vaPath)
	if conv.code != exitOK {
		t.Fatalf("convert: exit %d\n%s", conv.code, conv.stderr)
	}
	native := strings.ReplaceAll(conv.stdout, filepath.Join(dir, "va-token"), filepath.Join(dir, "native-token"))
	nativePath := filepath.Join(dir, "native.hcl")
	if err := os.WriteFile(nativePath, []byte(native), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := runAgent(t, "client1", nil, "validate", "--config", nativePath); v.code != exitOK {
		t.Fatalf("validate of the converted config: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	res = runAgent(t, "client1", []string{"VAULT_ADDR="}, "--once", "--config", nativePath)
	if res.code != exitOK {
		t.Fatalf("converted config: exit %d\n%s\n%s", res.code, res.stderr, native)
	}
	tok2 := readToken(filepath.Join(dir, "native-token"))
	if tok2 == "" || tok2 == tok {
		t.Fatal("the converted config wrote no new token")
	}
	if fi, _ := os.Stat(filepath.Join(dir, "native-token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("converted sink mode %v, want 0600", fi.Mode().Perm())
	}
	if a, b := roleIDOf(t, tok), roleIDOf(t, tok2); a != b {
		t.Errorf("converted config logged in with another role (%s vs %s)", b, a)
	}
}

func roleIDOf(t *testing.T, tok string) string {
	t.Helper()
	return fmt.Sprint(lookupSelf(t, tok).Data["meta"].(map[string]any)["role_id"])
}
