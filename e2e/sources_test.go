package e2e

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// The AWS SDK's credential sources end to end: each logs in to the real
// Vault as its principal's Vault role (Vault forwards the signed
// GetCallerIdentity to the AWS fake, which knows the credentials the SDK
// got: minted by AssumeRoleWithWebIdentity, AssumeRole or the SSO portal,
// or static), and diagnose names the source. Every AWS call goes to the
// fake (stack.Instance.Env).
type sourceCase struct {
	name      string
	setup     func(t *testing.T, dir string) agentRun // the run's env, args (no --once/--role), wrapper
	role      string                                  // the Vault role it logs in as
	caller    string                                  // the caller ARN Vault saw starts with this
	source    string                                  // diagnose's credentials step shows this
	fakeCalls string                                  // the AWS fake counts this call
}

// sso is the sso-session of the SSO profile.
const (
	ssoSession  = "corp"
	ssoStartURL = "https://corp.awsapps.com/start"
)

func sourceCases() []sourceCase {
	src := st.Sources
	acct := stack.SecondaryAccount
	return []sourceCase{
		{
			name: "web identity",
			setup: func(t *testing.T, dir string) agentRun {
				tok := filepath.Join(dir, "token")
				writeTestFile(t, tok, src.WebIdentityToken)
				return agentRun{env: []string{"AWS_WEB_IDENTITY_TOKEN_FILE=" + tok, "AWS_ROLE_ARN=" + src.WebIdentityRoleARN,
					"AWS_ROLE_SESSION_NAME=web-pod", "AWS_REGION=us-east-1"}}
			},
			role: "vault-role1", caller: "arn:aws:sts::" + acct + ":assumed-role/vault-secondary-web/web-pod",
			source: "web identity (sts:AssumeRoleWithWebIdentity", fakeCalls: "AssumeRoleWithWebIdentity",
		},
		{
			name: "profile with role_arn and source_profile",
			setup: func(t *testing.T, dir string) agentRun {
				cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
				writeTestFile(t, cfg, fmt.Sprintf("[profile deploy]\nrole_arn = %s\nsource_profile = ci\nrole_session_name = deploy-job\nregion = eu-west-1\n", src.DeployRoleARN))
				writeTestFile(t, creds, fmt.Sprintf("[ci]\naws_access_key_id = %s\naws_secret_access_key = %s\n", src.Deployer.AccessKeyID, src.Deployer.SecretAccessKey))
				return agentRun{env: []string{"AWS_CONFIG_FILE=" + cfg, "AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_PROFILE=deploy"}}
			},
			role: "vault-role2", caller: "arn:aws:sts::" + acct + ":assumed-role/secondary-deploy/deploy-job",
			source: "an assumed role (sts:AssumeRole", fakeCalls: "AssumeRole",
		},
		{
			name: "credential_process",
			setup: func(t *testing.T, dir string) agentRun {
				out, _ := json.Marshal(map[string]any{"Version": 1, "AccessKeyId": src.Process.AccessKeyID, "SecretAccessKey": src.Process.SecretAccessKey,
					"SessionToken": src.Process.SessionToken, "Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
				script, cfg := filepath.Join(dir, "creds.sh"), filepath.Join(dir, "config")
				writeTestFile(t, script, "#!/bin/sh\ncat <<'EOF'\n"+string(out)+"\nEOF\n")
				if err := os.Chmod(script, 0o700); err != nil {
					t.Fatal(err)
				}
				writeTestFile(t, cfg, "[default]\ncredential_process = "+script+"\n")
				return agentRun{env: []string{"AWS_CONFIG_FILE=" + cfg}}
			},
			role: "vault-role2", caller: "arn:aws:sts::" + acct + ":assumed-role/secondary-process/batch",
			source: "a profile's credential_process",
		},
		{
			name: "SSO profile with an sso-session and a cached token",
			setup: func(t *testing.T, dir string) agentRun {
				cfg := filepath.Join(dir, ".aws", "config")
				writeTestFile(t, cfg, fmt.Sprintf("[profile dev]\nsso_session = %s\nsso_account_id = %s\nsso_role_name = %s\nregion = us-east-1\n\n[sso-session %s]\nsso_region = us-east-1\nsso_start_url = %s\n",
					ssoSession, src.SSO.AccountID, src.SSO.RoleName, ssoSession, ssoStartURL))
				sum := sha1.Sum([]byte(ssoSession)) // the cache file's name, as aws sso login writes it
				writeTestFile(t, filepath.Join(dir, ".aws", "sso", "cache", hex.EncodeToString(sum[:])+".json"),
					src.SSOCache(ssoStartURL, "us-east-1", time.Now().Add(8*time.Hour)))
				return agentRun{env: []string{"HOME=" + dir, "AWS_CONFIG_FILE=" + cfg, "AWS_PROFILE=dev"}}
			},
			role: "vault-sso", caller: "arn:aws:sts::" + acct + ":assumed-role/" + src.SSO.IAMRoleName + "/" + src.SSO.UserName,
			source: "IAM Identity Center", fakeCalls: "GetRoleCredentials",
		},
		{
			name: "assume_role_arn in the config file, region from IMDS",
			setup: func(t *testing.T, dir string) agentRun {
				cfg := filepath.Join(dir, "agent.hcl")
				writeTestFile(t, cfg, fmt.Sprintf("auth \"aws\" {\n  header_value = %q\n  assume_role_arn = %q\n  assume_role_external_id = %q\n  assume_role_session_name = \"e2e-chained\"\n  assume_role_duration = \"1h\"\n}\n",
					stack.HeaderValue, src.ChainedRoleARN, src.ChainedExternalID))
				return agentRun{args: []string{"--config", cfg}}
			},
			role: "vault-role1", caller: "arn:aws:sts::" + acct + ":assumed-role/vault-secondary-chained/e2e-chained",
			source: "from role " + st.Sources.ChainedRoleARN + " (assume_role_arn)", fakeCalls: "AssumeRole",
		},
		{
			name: "--assume-role-arn over web identity",
			setup: func(t *testing.T, dir string) agentRun {
				cfg, tok := filepath.Join(dir, "agent.hcl"), filepath.Join(dir, "token")
				writeTestFile(t, tok, src.WebIdentityToken)
				writeTestFile(t, cfg, fmt.Sprintf("auth \"aws\" {\n  assume_role_external_id = %q\n}\n", src.ChainedExternalID))
				return agentRun{env: []string{"AWS_WEB_IDENTITY_TOKEN_FILE=" + tok, "AWS_ROLE_ARN=" + src.WebIdentityRoleARN, "AWS_REGION=eu-central-1"},
					args: []string{"--config", cfg, "--assume-role-arn", src.ChainedRoleARN}}
			},
			role: "vault-role1", caller: "arn:aws:sts::" + acct + ":assumed-role/vault-secondary-chained/xauth-agent-",
			source: "assumed with credentials from web identity", fakeCalls: "AssumeRoleWithWebIdentity",
		},
		{
			name:  "no HOME: keys in the passwd home directory",
			setup: passwdHome,
			role:  "vault-role1", caller: "arn:aws:sts::" + acct + ":assumed-role/vault-secondary-home/passwd",
			source: "a shared config profile's static keys (SharedConfigCredentials: ",
		},
	}
}

func TestCredentialSources(t *testing.T) {
	ctx := context.Background()
	// The caller's ARN in the token's metadata, to tell which principal logged in.
	if _, err := st.Vault.Logical().WriteWithContext(ctx, "auth/"+stack.Mount+"/config/identity", map[string]any{
		"iam_metadata": []string{"account_id", "auth_type", "client_arn"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Vault.Logical().WriteWithContext(ctx, "auth/"+stack.Mount+"/role/vault-sso", map[string]any{
		"auth_type": "iam", "policies": "admin",
		// IAM Identity Center's roles live under a path: bind the full ARN's prefix.
		"bound_iam_principal_arn": "arn:aws:iam::" + stack.SecondaryAccount + ":role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_VaultSecondary_*",
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range sourceCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			run := c.setup(t, dir)
			run.instance = "client1"
			before := st.AWS.Counts()
			once := run
			once.args = append([]string{"--once", "--role", c.role, "--header-value", stack.HeaderValue}, run.args...)
			once.args = withDebugLog(once.args, once.env)
			res := runProcess(t, once)
			if res.code != exitOK {
				t.Fatalf("exit %d, want 0:\n%s", res.code, res.stderr)
			}
			meta := lookupSelf(t, strings.TrimSpace(res.stdout)).Data["meta"].(map[string]any)
			if arn, _ := meta["client_arn"].(string); !strings.HasPrefix(arn, c.caller) {
				t.Errorf("Vault saw caller %q, want %s... (token meta %v)", arn, c.caller, meta)
			}
			if c.fakeCalls != "" && st.AWS.Counts()[c.fakeCalls] <= before[c.fakeCalls] {
				t.Errorf("the AWS fake got no %s call (counts %v)", c.fakeCalls, st.AWS.Counts())
			}
			if !strings.Contains(res.stderr, `"credentials_source"`) {
				t.Errorf("the log names no credentials source:\n%s", res.stderr)
			}

			diag := run
			diag.args = append([]string{"--role", c.role, "--header-value", stack.HeaderValue}, run.args...)
			d := runDiagnoseAs(t, diag)
			if d.code != exitOK {
				t.Errorf("diagnose exit %d, want 0", d.code)
			}
			if got := stepLines(d.stdout, "credentials"); !strings.Contains(got, "[ ok ]") || !strings.Contains(got, c.source) {
				t.Errorf("diagnose's credentials step does not show %q:\n%s", c.source, got)
			}
		})
	}
}

// passwdHome sets up a run without HOME whose credentials are in the
// passwd home directory's .aws/credentials, where the AWS SDK looks when
// HOME is unset. The passwd entry is a file bind-mounted over /etc/passwd in
// a mount namespace of the agent's own (unshare), so the real home
// directory of whoever runs the tests is never written: as root a mount
// namespace, otherwise a user namespace mapping the user to root, in which
// root's entry is the one the SDK reads.
func passwdHome(t *testing.T, dir string) agentRun {
	t.Helper()
	home := filepath.Join(dir, "home")
	h := st.Sources.Home
	writeTestFile(t, filepath.Join(home, ".aws", "credentials"), fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n",
		h.AccessKeyID, h.SecretAccessKey, h.SessionToken))
	passwd := filepath.Join(dir, "passwd")
	writeTestFile(t, passwd, "root:x:0:0:root:"+home+":/bin/sh\n")
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("needs unshare(1) (util-linux) to give the agent a passwd entry of its own: %v", err)
	}
	ns := []string{unshare, "--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		ns = []string{unshare, "--user", "--map-root-user", "--mount", "--propagation", "private"}
	}
	wrapper := append(ns, "/bin/sh", "-c", `mount --bind "$0" /etc/passwd && exec "$@"`, passwd)
	if out, err := exec.Command(wrapper[0], append(wrapper[1:], "/bin/true")...).CombinedOutput(); err != nil {
		t.Skipf("cannot make a mount namespace with its own /etc/passwd here (%q: %v: %s); this test needs root or unprivileged user namespaces", wrapper, err, out)
	}
	return agentRun{wrapper: wrapper, unset: []string{"HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"},
		env: []string{"AWS_EC2_METADATA_DISABLED=true"}}
}

// A refused assume_role_arn ends --once with exit 3 and the fix, and the
// existing token file is left alone.
func TestAssumeRoleRefused(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	writeTestFile(t, tokenFile, "hvs.previous-valid-token")
	res := runAgent(t, "client1", []string{"AWS_REGION=us-east-1"}, "--once", "--role", "vault-role1", "--header-value", stack.HeaderValue,
		"--sink-file", tokenFile, "--assume-role-arn", st.Sources.ChainedRoleARN) // no external ID
	if res.code != exitCredentials {
		t.Fatalf("exit %d, want %d:\n%s", res.code, exitCredentials, res.stderr)
	}
	for _, want := range []string{"aws credentials unavailable", "AccessDenied", "sts:AssumeRole", "fix: the role's trust policy", "assume_role_external_id"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if b, _ := os.ReadFile(tokenFile); string(b) != "hvs.previous-valid-token" {
		t.Errorf("the token file was touched: %q", b)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
