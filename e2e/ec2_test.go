package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/awsfake"
	"github.com/xauth-agent/xauth-agent/e2e/faultproxy"
	"github.com/xauth-agent/xauth-agent/e2e/imdsdoc"
	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// exitNonceMismatch is xauth-agent's exit code for an ec2 login refused
// for a client nonce mismatch.
const exitNonceMismatch = 7

const (
	ec2Region     = "eu-west-1"
	ec2AMI        = "ami-0ec2e2e000000001"
	ec2ProfileARN = "arn:aws:iam::222222222222:instance-profile/xauth-ec2-app"
)

var (
	ec2SignerOnce sync.Once
	ec2Signer     *imdsdoc.Signer
	ec2SignerErr  error
	ec2Seq        atomic.Int32
)

// trustedSigner is the test key whose certificate Vault trusts for both
// PKCS#7 and identity signatures (config/certificate), as it trusts AWS's.
func trustedSigner(t *testing.T) *imdsdoc.Signer {
	t.Helper()
	ec2SignerOnce.Do(func() {
		ec2Signer, ec2SignerErr = imdsdoc.NewSigner("xauth-e2e instance identity")
		if ec2SignerErr != nil {
			return
		}
		for _, typ := range []string{"pkcs7", "identity"} {
			_, ec2SignerErr = st.Vault.Logical().Write("auth/"+stack.Mount+"/config/certificate/xauth-e2e-"+typ, map[string]any{
				"aws_public_cert": ec2Signer.CertBase64(), "type": typ,
			})
			if ec2SignerErr != nil {
				return
			}
		}
	})
	if ec2SignerErr != nil {
		t.Fatal(ec2SignerErr)
	}
	return ec2Signer
}

// ec2Instance is a simulated EC2 instance of the secondary account: the
// fake's DescribeInstances knows it, and its own IMDS serves its signed
// identity document.
type ec2Instance struct {
	id   string
	imds *imdsdoc.Server
}

// newEC2Instance starts an instance whose document is signed by signer (nil:
// the key Vault trusts). Each has its own ID, so each test has its own
// identity access list entry.
func newEC2Instance(t *testing.T, signer *imdsdoc.Signer) *ec2Instance {
	t.Helper()
	if signer == nil {
		signer = trustedSigner(t)
	}
	id := fmt.Sprintf("i-0ec2e2e%09d", ec2Seq.Add(1))
	if err := st.AWS.AddInstance(awsfake.Instance{ID: id, Account: stack.SecondaryAccount, ImageID: ec2AMI,
		SubnetID: "subnet-0ec2e2e", VPCID: "vpc-0ec2e2e", InstanceProfileARN: ec2ProfileARN, Region: ec2Region}); err != nil {
		t.Fatal(err)
	}
	srv, err := imdsdoc.Start(imdsdoc.Document{
		AccountID: stack.SecondaryAccount, Architecture: "x86_64", AvailabilityZone: ec2Region + "a", ImageID: ec2AMI,
		InstanceID: id, InstanceType: "t3.micro", PendingTime: "2026-01-02T03:04:05Z", PrivateIP: "10.0.0.10",
		Region: ec2Region, Version: "2017-09-30",
	}, signer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &ec2Instance{id: id, imds: srv}
}

// env points the agent at the instance's IMDS (it overrides client1's).
func (in *ec2Instance) env() []string {
	return []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + in.imds.URL}
}

// ec2Role writes an ec2 role bound to the secondary account and the
// instance profile, with the admin policy; extra adds or overrides fields.
func ec2Role(t *testing.T, name string, extra map[string]any) {
	t.Helper()
	data := map[string]any{
		"auth_type": "ec2", "policies": "admin",
		"bound_account_id":               stack.SecondaryAccount,
		"bound_iam_instance_profile_arn": "arn:aws:iam::222222222222:instance-profile/xauth-ec2-*",
	}
	for k, v := range extra {
		data[k] = v
	}
	if _, err := st.Vault.Logical().Write("auth/"+stack.Mount+"/role/"+name, data); err != nil {
		t.Fatal(err)
	}
}

// ec2Config writes an agent config for the ec2 type into dir.
func ec2Config(t *testing.T, dir, role, signature, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf("auth \"aws\" {\n  type       = \"ec2\"\n  role       = %q\n  signature  = %q\n  nonce_file = %q\n}\n%s",
		role, signature, filepath.Join(dir, "nonce"), extra)
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runOnce runs `xauth-agent --once` on the instance with the config.
func (in *ec2Instance) runOnce(t *testing.T, cfg string, args ...string) result {
	t.Helper()
	return runAgent(t, "client1", in.env(), append([]string{"--once", "--config", cfg}, args...)...)
}

func readNonce(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "nonce"))
	if err != nil {
		t.Fatalf("nonce file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// accessListNonce is the client nonce Vault holds for the instance.
func accessListNonce(t *testing.T, id string) string {
	t.Helper()
	s, err := st.Vault.Logical().Read("auth/" + stack.Mount + "/identity-accesslist/" + id)
	if err != nil || s == nil {
		t.Fatalf("read identity-accesslist/%s: %v", id, err)
	}
	return fmt.Sprint(s.Data["client_nonce"])
}

func TestEC2LoginEachSignatureType(t *testing.T) {
	ec2Role(t, "xauth-ec2", nil)
	tests := []struct {
		signature string
		fetched   []string // IMDS paths the agent must read
		untouched []string // and must not
	}{
		{"rsa2048", []string{imdsdoc.PathRSA2048}, []string{imdsdoc.PathPKCS7, imdsdoc.PathSignature}},
		{"pkcs7", []string{imdsdoc.PathPKCS7}, []string{imdsdoc.PathRSA2048, imdsdoc.PathSignature}},
		{"identity", []string{imdsdoc.PathDocument, imdsdoc.PathSignature}, []string{imdsdoc.PathRSA2048, imdsdoc.PathPKCS7}},
	}
	for _, tt := range tests {
		t.Run(tt.signature, func(t *testing.T) {
			in := newEC2Instance(t, nil)
			dir := t.TempDir()
			res := in.runOnce(t, ec2Config(t, dir, "xauth-ec2", tt.signature, ""))
			if res.code != exitOK {
				t.Fatalf("exit %d\n%s", res.code, res.stderr)
			}
			token := strings.TrimSpace(res.stdout)
			s := lookupSelf(t, token)
			if p := policiesOf(t, s); !slices.Contains(p, "admin") {
				t.Errorf("policies %v lack admin", p)
			}
			meta, _ := s.Data["meta"].(map[string]any)
			if meta["auth_type"] != "ec2" || meta["role"] != "xauth-ec2" || meta["account_id"] != stack.SecondaryAccount {
				t.Errorf("token metadata %v", meta)
			}
			if _, ok := meta["nonce"]; ok {
				t.Error("Vault returned a nonce: the agent did not send one")
			}
			for _, p := range tt.fetched {
				if in.imds.Hits(p) == 0 {
					t.Errorf("the agent did not read %s", p)
				}
			}
			for _, p := range tt.untouched {
				if n := in.imds.Hits(p); n != 0 {
					t.Errorf("the agent read %s %d times", p, n)
				}
			}
			if got := accessListNonce(t, in.id); got != readNonce(t, dir) {
				t.Errorf("Vault holds nonce %q, the nonce file %q", got, readNonce(t, dir))
			}
			if fi, _ := os.Stat(filepath.Join(dir, "nonce")); fi.Mode().Perm() != 0o600 {
				t.Errorf("nonce file mode %v, want 0600", fi.Mode().Perm())
			}
			if strings.Contains(res.stderr, readNonce(t, dir)) || strings.Contains(res.stderr, token) {
				t.Error("the nonce or the token appears in the agent's log")
			}
		})
	}
}

func TestEC2NonceSurvivesRestartAndLossIsExplained(t *testing.T) {
	ec2Role(t, "xauth-ec2-restart", nil)
	in := newEC2Instance(t, nil)
	dir := t.TempDir()
	cfg := ec2Config(t, dir, "xauth-ec2-restart", "rsa2048", "sink \"file\" {\n  path = \""+dir+"/token\"\n}\n")
	tokenFile := filepath.Join(dir, "token")

	// First start: the nonce is made, written, registered.
	if res := in.runOnce(t, cfg); res.code != exitOK {
		t.Fatalf("first login: exit %d\n%s", res.code, res.stderr)
	}
	nonce := readNonce(t, dir)
	if accessListNonce(t, in.id) != nonce {
		t.Fatal("Vault holds another nonce than the file")
	}
	first := readToken(tokenFile)

	// Restart: the same nonce logs in again.
	if res := in.runOnce(t, cfg); res.code != exitOK {
		t.Fatalf("login after a restart: exit %d\n%s", res.code, res.stderr)
	}
	if readNonce(t, dir) != nonce {
		t.Fatal("the restart changed the nonce")
	}
	second := readToken(tokenFile)
	if second == first {
		t.Fatal("the restart did not write a new token")
	}
	lookupSelf(t, second)

	// The nonce file is lost: a clear refusal, exit 7, the sink untouched.
	if err := os.Remove(filepath.Join(dir, "nonce")); err != nil {
		t.Fatal(err)
	}
	res := in.runOnce(t, cfg)
	if res.code != exitNonceMismatch {
		t.Fatalf("after losing the nonce: exit %d, want %d\n%s", res.code, exitNonceMismatch, res.stderr)
	}
	for _, want := range []string{
		"client nonce mismatch",
		"instance " + in.id + " already logged in to auth/aws with another nonce",
		filepath.Join(dir, "nonce"),
		"vault delete auth/aws/identity-accesslist/" + in.id,
		"put the old nonce back",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	t.Logf("what the operator sees:\n%s", res.stderr)
	if readToken(tokenFile) != second {
		t.Error("a refused login changed the sink")
	}

	// Fix 1: the old nonce goes back into the file.
	if err := os.WriteFile(filepath.Join(dir, "nonce"), []byte(nonce+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := in.runOnce(t, cfg); res.code != exitOK {
		t.Fatalf("with the old nonce put back: exit %d\n%s", res.code, res.stderr)
	}

	// Fix 2: lost again, and the operator deletes the access list entry.
	if err := os.Remove(filepath.Join(dir, "nonce")); err != nil {
		t.Fatal(err)
	}
	if res := in.runOnce(t, cfg); res.code != exitNonceMismatch {
		t.Fatalf("lost again: exit %d\n%s", res.code, res.stderr)
	}
	if _, err := st.Vault.Logical().Delete("auth/aws/identity-accesslist/" + in.id); err != nil {
		t.Fatal(err)
	}
	if res := in.runOnce(t, cfg); res.code != exitOK {
		t.Fatalf("after vault delete of the entry: exit %d\n%s", res.code, res.stderr)
	}
	if n := readNonce(t, dir); n == nonce || accessListNonce(t, in.id) != n {
		t.Error("after the reset Vault does not hold the nonce now in the file")
	}
}

func TestEC2Refusals(t *testing.T) {
	ec2Role(t, "xauth-ec2-other-account", map[string]any{"bound_account_id": "333333333333"})
	ec2Role(t, "xauth-ec2-refusals", nil)
	untrusted, err := imdsdoc.NewSigner("not registered with vault")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, role, signature string
		signer                *imdsdoc.Signer
		want                  []string
	}{
		{"iam role", "vault-role", "rsa2048", nil, []string{`role "vault-role" has auth_type=iam`}},
		{"account not bound", "xauth-ec2-other-account", "rsa2048", nil, []string{`account ID is "222222222222"`, "bound_account_id", "auth/aws/role/xauth-ec2-other-account"}},
		{"unknown role", "no-such-ec2-role", "rsa2048", nil, []string{`role "no-such-ec2-role" does not exist`}},
		{"pkcs7 signed by an unknown key", "xauth-ec2-refusals", "rsa2048", untrusted, []string{"could not verify the instance identity document's signature", "config/certificate"}},
		{"identity signed by an unknown key", "xauth-ec2-refusals", "identity", untrusted, []string{"could not verify the instance identity document's signature"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newEC2Instance(t, tt.signer)
			res := in.runOnce(t, ec2Config(t, t.TempDir(), tt.role, tt.signature, ""))
			if res.code != exitRefused {
				t.Fatalf("exit %d, want %d\n%s", res.code, exitRefused, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
		})
	}
}

// The daemon renews an ec2 token (Vault checks the instance again on each
// renewal) and, at the max TTL, logs in again with the nonce on disk.
func TestEC2DaemonRenewsAndLogsInAgain(t *testing.T) {
	ec2Role(t, "xauth-ec2-short", map[string]any{"token_ttl": "4s", "token_max_ttl": "12s"})
	in := newEC2Instance(t, nil)
	proxy, err := faultproxy.Start(st.VaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	cfg := ec2Config(t, dir, "xauth-ec2-short", "rsa2048", "sink \"file\" {\n  path = \""+file+"\"\n}\n")
	d := startDaemon(t, "client1", in.env(), "--config", cfg, "--vault-addr", proxy.URL())

	waitFor(t, 15*time.Second, "the first token", func() bool { return readToken(file) != "" })
	nonce := readNonce(t, dir)
	seen := map[string]bool{}
	refused := 0 // samples of an expired token: see below
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		tok := readToken(file)
		seen[tok] = true
		if _, err := tokenTTL(tok); err != nil {
			refused++
		}
		time.Sleep(200 * time.Millisecond)
	}
	paths := proxy.RequestsByPath()
	renewals, logins := paths["/v1/auth/token/renew-self"], paths["/v1/auth/aws/login"]
	t.Logf("over 20s: %d renewals, %d logins, %d distinct tokens, %d samples of a token Vault refused", renewals, logins, len(seen), refused)
	if renewals < 2 || logins < 2 || len(seen) < 2 {
		t.Errorf("want ≥ 2 renewals and ≥ 1 re-login with a new token; got %d renewals, %d logins, %d tokens", renewals, logins, len(seen))
	}
	// At the max TTL the renew policy may try one renewal past Vault's real
	// expiry (Vault rounds the capped TTL up to a whole second) and log in
	// a moment later; that window is the lifecycle's, the same for iam. A
	// token Vault refuses for longer than that is a failure.
	if refused > 5 {
		t.Errorf("the sink held a token Vault refuses in %d samples (200 ms apart)", refused)
	}
	waitFor(t, 5*time.Second, "a token Vault accepts", func() bool {
		_, err := tokenTTL(readToken(file))
		return err == nil
	})
	if readNonce(t, dir) != nonce || accessListNonce(t, in.id) != nonce {
		t.Error("the nonce changed while the daemon ran")
	}
	if log := d.stderr.String(); strings.Contains(log, "login failed") {
		t.Errorf("a login failed:\n%s", log)
	}
	if code, took := d.stop(t, syscall.SIGTERM); code != 0 || took > 5*time.Second {
		t.Fatalf("SIGTERM: exit %d after %v", code, took)
	}
}
