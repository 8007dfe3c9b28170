package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/localapi"
	"github.com/xauth-agent/xauth-agent/internal/sink"
	"github.com/xauth-agent/xauth-agent/internal/token"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

func TestStatusCmd(t *testing.T) {
	state := token.NewLatest()
	state.Update(func(s *token.State) { s.Step, s.Next = "renewing", time.Now().Add(40*time.Minute) })
	s := startAPI(t, &apiToken, localapi.Options{Version: "9.9.9", State: state, Sinks: func() []sink.Status {
		return []sink.Status{{Name: "file:/run/xauth-agent/token", Generation: 1, LastWrite: time.Now().Add(-2 * time.Minute)}}
	}, Vault: func() []vault.AddressStatus {
		return []vault.AddressStatus{
			{Address: "https://vault-a:8200", State: vault.AddressDown, LastError: "HTTP 503: Vault is sealed", Since: time.Now().Add(-time.Minute)},
			{Address: "https://vault-b:8200", State: vault.AddressUp, Since: time.Now().Add(-time.Minute)},
			{Address: "https://vault-c:8200", State: vault.AddressUnknown},
		}
	}})

	code, out, errOut := runAPICmd(t, "status", "", "--socket", s.Path())
	if code != failure.ExitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(out, apiToken.Token) {
		t.Fatalf("status shows the token:\n%s", out)
	}
	for _, want := range []string{"State:", "renewing", "acc-cmd", "default, app", "Renewable:", "yes", "9.9.9",
		"SINK", "file:/run/xauth-agent/token"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// Times are shown to the second, so allow for the second they lose.
	for _, re := range []string{`Next renewal: +\S+ \(in (39m5\ds|40m0s)\)`, `token +1 +\S+ \(2m[01]s ago\) +-`,
		`VAULT ADDRESS +STATE +SINCE +LAST ERROR\nhttps://vault-a:8200 +down +\S+ \((1m[01]s) ago\) +HTTP 503: Vault is sealed\n` +
			`https://vault-b:8200 +up .*\n` + `https://vault-c:8200 +unknown +- +-\n`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("status does not match %s:\n%s", re, out)
		}
	}

	code, out, _ = runAPICmd(t, "status", "", "--socket", s.Path(), "--json")
	var st localapi.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != failure.ExitOK || st.Accessor != "acc-cmd" || len(st.Vault) != 3 || st.Vault[0].State != "down" {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, out)
	}
}

func TestStatusCmdWithoutToken(t *testing.T) {
	s := startAPI(t, nil, localapi.Options{})
	code, out, _ := runAPICmd(t, "status", "", "--socket", s.Path())
	if code != failure.ExitUnreachable || !strings.Contains(out, "none") {
		t.Fatalf("exit %d, want %d; stdout:\n%s", code, failure.ExitUnreachable, out)
	}
	code, _, errOut := runAPICmd(t, "status", "", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if code != failure.ExitUnreachable || !strings.Contains(errOut, "cannot reach the agent") {
		t.Fatalf("no agent: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runAPICmd(t, "status", "", "extra"); code != failure.ExitUsage {
		t.Fatalf("stray argument: exit %d, stderr %q", code, errOut)
	}
}

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b bytes.Buffer
	err := printStatus(&b, localapi.Status{
		State: "retrying-login", TokenState: "expired", LastError: "vault unreachable",
		ExpiresAt: now.Add(-time.Minute), Sinks: []localapi.SinkStatus{{Name: "socket:/run/a.sock", LastError: "boom"}},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"retrying-login", "expired", "2026-01-02T03:03:05Z (1m0s ago)", "vault unreachable", "Accessor:      -", "boom"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
}
