package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

const testDoc = `{"accountId":"222222222222","instanceId":"i-0ec2000000000001","imageId":"ami-0123456789abcdef0","region":"eu-west-1","pendingTime":"2026-01-02T03:04:05Z"}`

// IMDS serves base64 in 64-character lines; the login must send it whole.
var imdsBodies = map[string]string{
	"/latest/dynamic/instance-identity/document":  testDoc,
	"/latest/dynamic/instance-identity/rsa2048":   "UlNBMjA0OC1ibG9i\nLXBhcnQtdHdv\n",
	"/latest/dynamic/instance-identity/pkcs7":     "RFNBLWJsb2I=\n",
	"/latest/dynamic/instance-identity/signature": "c2lnbmF0\ndXJl\n",
}

// fakeIMDS is an IMDSv2 server: a token first, then the dynamic paths.
func fakeIMDS(t *testing.T, bodies map[string]string) *imds.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "300")
			_, _ = io.WriteString(w, "imds-token")
			return
		}
		if r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-token" {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, b)
	}))
	t.Cleanup(srv.Close)
	return imds.New(imds.Options{Endpoint: srv.URL})
}

// fakeVault answers logins with handle, after recording each body.
type fakeVault struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (f *fakeVault) logins() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.bodies...)
}

func startVault(t *testing.T, handle func(w http.ResponseWriter, body map[string]any)) (*fakeVault, string) {
	t.Helper()
	f := &fakeVault{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/login") {
			http.Error(w, `{"errors":["no handler for route"]}`, http.StatusNotFound)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("login body: %v", err)
		}
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
		handle(w, body)
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func tokenAnswer(metadata map[string]string) func(http.ResponseWriter, map[string]any) {
	return func(w http.ResponseWriter, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"auth": map[string]any{
			"client_token": "hvs.ec2token", "accessor": "acc1", "policies": []string{"default"},
			"lease_duration": 60, "renewable": true, "metadata": metadata,
		}})
	}
}

func vaultError(status int, msg string) func(http.ResponseWriter, map[string]any) {
	return func(w http.ResponseWriter, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []string{msg}})
	}
}

func ec2Client(t *testing.T, vaultURL string, md *imds.Client, auth config.Auth) *EC2Client {
	t.Helper()
	vc, err := vault.NewClient(config.Vault{Addresses: []string{vaultURL}}, config.Lifecycle{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth.Mount == "" {
		auth.Mount = "aws"
	}
	return NewEC2(vc, md, auth, zap.NewNop())
}

func TestEC2LoginPayload(t *testing.T) {
	docB64 := base64.StdEncoding.EncodeToString([]byte(testDoc))
	tests := []struct {
		signature, role string
		want            map[string]string // fields with a fixed value
		absent          []string
	}{
		{config.SignatureRSA2048, "web", map[string]string{"pkcs7": "UlNBMjA0OC1ibG9iLXBhcnQtdHdv", "role": "web"}, []string{"identity", "signature"}},
		{config.SignaturePKCS7, "web", map[string]string{"pkcs7": "RFNBLWJsb2I=", "role": "web"}, []string{"identity", "signature"}},
		{config.SignatureIdentity, "web", map[string]string{"identity": docB64, "signature": "c2lnbmF0dXJl", "role": "web"}, []string{"pkcs7"}},
		{config.SignatureRSA2048, "", map[string]string{"pkcs7": "UlNBMjA0OC1ibG9iLXBhcnQtdHdv"}, []string{"role", "identity", "signature", "iam_request_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.signature+"/role="+tt.role, func(t *testing.T) {
			fv, url := startVault(t, tokenAnswer(nil))
			nonceFile := filepath.Join(t.TempDir(), "nonce")
			c := ec2Client(t, url, fakeIMDS(t, imdsBodies), config.Auth{Role: tt.role, Signature: tt.signature, NonceFile: nonceFile})
			s, err := c.Login(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if s.Auth.ClientToken != "hvs.ec2token" {
				t.Errorf("token %q", s.Auth.ClientToken)
			}
			body := fv.logins()[0]
			for k, v := range tt.want {
				if body[k] != v {
					t.Errorf("%s = %v, want %q", k, body[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := body[k]; ok {
					t.Errorf("%s is sent, want it absent", k)
				}
			}
			n, ok, _ := loadNonce(nonceFile)
			if !ok || body["nonce"] != n.value {
				t.Errorf("nonce sent %v, nonce file %q", body["nonce"], n.value)
			}
		})
	}
}

// The nonce is on disk when Vault receives the login, so a crash (or a
// lost answer) between the two leaves a nonce the next start reuses.
func TestEC2NonceOnDiskBeforeLogin(t *testing.T) {
	nonceFile := filepath.Join(t.TempDir(), "nonce")
	var (
		mu     sync.Mutex // each request has its own handler goroutine
		onDisk []string
	)
	fv, url := startVault(t, func(w http.ResponseWriter, body map[string]any) {
		b, err := os.ReadFile(nonceFile)
		if err != nil {
			t.Errorf("nonce file missing when the login arrived: %v", err)
		}
		mu.Lock()
		onDisk = append(onDisk, strings.TrimSpace(string(b)))
		first := len(onDisk) == 1
		mu.Unlock()
		// The first answer never arrives: the agent "crashed".
		if first {
			panic(http.ErrAbortHandler)
		}
		tokenAnswer(nil)(w, body)
	})
	md := fakeIMDS(t, imdsBodies)
	auth := config.Auth{Signature: config.SignatureRSA2048, NonceFile: nonceFile}
	if _, err := ec2Client(t, url, md, auth).Login(context.Background()); !errors.Is(err, failure.Unreachable) {
		t.Fatalf("first login: %v, want unreachable", err)
	}
	// A new process: a new client, the same nonce file.
	if _, err := ec2Client(t, url, md, auth).Login(context.Background()); err != nil {
		t.Fatalf("login after the restart: %v", err)
	}
	logins := fv.logins()
	mu.Lock()
	defer mu.Unlock()
	if len(logins) != 2 || onDisk[0] == "" || logins[0]["nonce"] != onDisk[0] || logins[1]["nonce"] != onDisk[0] {
		t.Errorf("nonces sent %v and %v, on disk %q: want the first on-disk nonce both times", logins[0]["nonce"], logins[1]["nonce"], onDisk)
	}
}

func TestEC2KeepsNonceVaultReturns(t *testing.T) {
	nonceFile := filepath.Join(t.TempDir(), "nonce")
	_, url := startVault(t, tokenAnswer(map[string]string{"nonce": "server-made-nonce", "role": "web"}))
	c := ec2Client(t, url, fakeIMDS(t, imdsBodies), config.Auth{Signature: config.SignatureRSA2048, NonceFile: nonceFile})
	if _, err := c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := loadNonce(nonceFile); n.value != "server-made-nonce" {
		t.Errorf("nonce file holds %q, want the nonce Vault returned", n.value)
	}
}

func TestEC2RereadsNonceFile(t *testing.T) {
	nonceFile := filepath.Join(t.TempDir(), "nonce")
	fv, url := startVault(t, tokenAnswer(nil))
	c := ec2Client(t, url, fakeIMDS(t, imdsBodies), config.Auth{Signature: config.SignatureRSA2048, NonceFile: nonceFile})
	if _, err := c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	// An operator puts the instance's old nonce back while the daemon runs.
	if err := os.WriteFile(nonceFile, []byte("restored-nonce\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := fv.logins()[1]["nonce"]; got != "restored-nonce" {
		t.Errorf("second login sent nonce %v, want the one put back", got)
	}
}

func TestEC2NonceMismatch(t *testing.T) {
	nonceFile := filepath.Join(t.TempDir(), "nonce")
	_, url := startVault(t, vaultError(400, "client nonce mismatch"))
	c := ec2Client(t, url, fakeIMDS(t, imdsBodies), config.Auth{Mount: "aws-ec2", Signature: config.SignatureRSA2048, NonceFile: nonceFile})
	_, err := c.Login(context.Background())
	if failure.Of(err) != failure.NonceMismatch {
		t.Fatalf("error %v, want failure.NonceMismatch", err)
	}
	for _, want := range []string{"client nonce mismatch", "i-0ec2000000000001", nonceFile,
		"vault delete auth/aws-ec2/identity-accesslist/i-0ec2000000000001", "put the old nonce back"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestEC2SignatureRefusedWith500(t *testing.T) {
	_, url := startVault(t, vaultError(500, "failed to verify the signature: crypto/rsa: verification error"))
	c := ec2Client(t, url, fakeIMDS(t, imdsBodies), config.Auth{Signature: config.SignaturePKCS7, NonceFile: filepath.Join(t.TempDir(), "nonce")})
	_, err := c.Login(context.Background())
	var r *vault.Error
	if !errors.As(err, &r) || r.Kind != failure.Refused || !strings.Contains(r.Fix, `signature = "rsa2048"`) {
		t.Fatalf("error %v, want a refusal advising rsa2048", err)
	}
	_, url = startVault(t, vaultError(503, "Vault is sealed"))
	c = ec2Client(t, url, fakeIMDS(t, imdsBodies), config.Auth{Signature: config.SignaturePKCS7, NonceFile: filepath.Join(t.TempDir(), "nonce")})
	if _, err := c.Login(context.Background()); failure.Of(err) != failure.Unreachable || !errors.As(err, new(*vault.Error)) {
		t.Fatalf("sealed: %v, want an unavailable Vault", err)
	}
}

func TestEC2IMDSErrors(t *testing.T) {
	_, url := startVault(t, tokenAnswer(nil))
	bodies := map[string]string{"/latest/dynamic/instance-identity/document": testDoc}
	nonceFile := filepath.Join(t.TempDir(), "nonce")
	c := ec2Client(t, url, fakeIMDS(t, bodies), config.Auth{Signature: config.SignatureRSA2048, NonceFile: nonceFile})
	_, err := c.Login(context.Background())
	if !errors.Is(err, failure.Credentials) || !strings.Contains(err.Error(), "instance-identity/rsa2048") || !strings.Contains(err.Error(), "another signature type") {
		t.Fatalf("missing /rsa2048: %v", err)
	}
	if _, err := os.Stat(nonceFile); err == nil {
		t.Error("a nonce was written although no login was attempted")
	}
	bad := map[string]string{"/latest/dynamic/instance-identity/document": "<html>"}
	c = ec2Client(t, url, fakeIMDS(t, bad), config.Auth{Signature: config.SignatureRSA2048, NonceFile: nonceFile})
	if _, err := c.Login(context.Background()); !errors.Is(err, failure.Credentials) {
		t.Fatalf("not a document: %v", err)
	}
}
