package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/vaulttest"
)

// The AWS credentials the echo tests sign with.
const (
	echoKeyID   = "ASIAECHOCMDTEST00001"
	echoSecret  = "cmd/echo+secret0123456789abcdefghijklmnop"
	echoSession = "IQoJb3JpZ2luX2VjEEcaCXVzLWVhc3QtMSJGMEQCIDU6cmd+session/token/0123456789abcdefABCDEFghijklmnopqrstuvwxyz=="
	echoToken   = "hvs.CAESIEchoDaemonTokenThatMustNeverReachTheLog0123456789"
)

// echoLogin is the echo Vault's answer to a login, for the daemon test:
// a token that lives 3 s.
const echoLogin = `{"auth":{"client_token":"` + echoToken + `","accessor":"acc-echo","policies":["default"],"lease_duration":3,"renewable":true}}`

// echoSecrets must never show: the AWS secrets, the token, the request body.
var echoSecrets = []string{echoSecret, echoSession, echoToken, "Action=GetCallerIdentity"}

func echoEnv(t *testing.T, addr string) {
	t.Helper()
	for k, v := range map[string]string{
		"VAULT_ADDR": addr, "AWS_ACCESS_KEY_ID": echoKeyID, "AWS_SECRET_ACCESS_KEY": echoSecret, "AWS_SESSION_TOKEN": echoSession,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "XAUTH_ROLE": "", "VAULT_SKIP_VERIFY": "",
	} {
		t.Setenv(k, v)
	}
}

// --once against a server that echoes the login: stderr says the login was
// refused and shows the echo, without the signature, the session token or
// the signed headers.
func TestOnceAgainstAnEchoingServer(t *testing.T) {
	v := vaulttest.NewEcho(t, vaulttest.EchoOptions{Status: http.StatusForbidden})
	echoEnv(t, v.URL)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--once", "--role", "web", "--header-value", "vault.example.com", "--log-level", "debug"}, &stdout, &stderr)
	if code != failure.ExitRefused {
		t.Fatalf("exit %d, want %d:\n%s", code, failure.ExitRefused, stderr.String())
	}
	if leaked := v.Shown(stderr.String(), echoSecrets...); len(leaked) > 0 {
		t.Errorf("stderr shows %q:\n%s", leaked, stderr.String())
	}
	if !strings.Contains(stderr.String(), "vault refused the login (HTTP 403)") || !strings.Contains(stderr.String(), "[redacted]") {
		t.Errorf("stderr should say what happened, with the echo redacted:\n%s", stderr.String())
	}
}

// notifyWriter collects what the daemon logs and signals when a line with
// want has been written.
type notifyWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// The daemon's renewal answered by the echo (the token in X-Vault-Token):
// the warn line says the renewal was refused, without the token.
func TestDaemonRenewalAgainstAnEchoingServer(t *testing.T) {
	v := vaulttest.NewEcho(t, vaulttest.EchoOptions{Status: http.StatusForbidden, Login: echoLogin})
	echoEnv(t, v.URL)
	logs := &notifyWriter{want: `"msg":"renewal failed"`, seen: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--role", "web", "--sink-file", filepath.Join(t.TempDir(), "token"), "--log-level", "debug"}, &bytes.Buffer{}, logs)
	}()
	select {
	case <-logs.seen: // the token lives 3 s: the first renewal comes within about 2 s
	case code := <-done:
		cancel()
		t.Fatalf("the daemon exited %d:\n%s", code, logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("no renewal failure logged:\n%s", logs.String())
	}
	cancel()
	if code := <-done; code != failure.ExitOK {
		t.Errorf("daemon exit %d", code)
	}
	out := logs.String()
	if leaked := v.Shown(out, echoSecrets...); len(leaked) > 0 {
		t.Errorf("the daemon's log shows %q:\n%s", leaked, out)
	}
	if !strings.Contains(out, "X-Vault-Token: [redacted]") {
		t.Errorf("the warn line should show the echo, redacted:\n%s", out)
	}
}
