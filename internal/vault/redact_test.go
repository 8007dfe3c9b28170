package vault

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

const (
	testKeyID   = "ASIAECHOTESTKEY00001"
	testSecret  = "echo/secret+key0123456789abcdefghijklmnop"
	testSession = "IQoJb3JpZ2luX2VjEEcaCXVzLWVhc3QtMSJGMEQCIDU6session+token/with/the/length/of/a/real/one/0123456789abcdefABCDEF=="
)

func TestRedact(t *testing.T) {
	sig := strings.Repeat("9f", 32)
	tests := []struct {
		name, in  string
		secrets   []string
		want      string // "" means in is unchanged
		wantGone  []string
		wantStays []string
	}{
		{name: "service token by shape", in: "permission denied for hvs.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			wantGone: []string{"hvs.AAAA"}, wantStays: []string{"permission denied for [redacted]"}},
		{name: "batch and legacy tokens by shape", in: "b.AAAAAAAAAAAAAAAAAAAAAAAA s.AAAAAAAAAAAAAAAAAAAAAAAA hvb.AAAAAAAAAAAAAAAAAAAAAAAA",
			want: "[redacted] [redacted] [redacted]"},
		{name: "a word ending in s. is no token", in: "attempts.AAAAAAAAAAAAAAAAAAAAAAAA"},
		{name: "header dump", in: "PUT /v1/auth/token/renew-self HTTP/1.1\r\nX-Vault-Token: x-anything-at-all\r\nAuthorization: AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20261125/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=" + sig + "\r\nX-Amz-Security-Token: short\r\n",
			wantGone: []string{"x-anything-at-all", testKeyID, sig, "short"}, wantStays: []string{"X-Vault-Token: [redacted]", "Authorization: [redacted]", "X-Amz-Security-Token: [redacted]"}},
		{name: "headers as JSON", in: `{"Authorization":["AWS4-HMAC-SHA256 Credential=x, Signature=` + sig + `"],"X-Amz-Security-Token":["tok"]}`,
			wantGone: []string{sig, `"tok"`}},
		{name: "headers as Go prints them", in: "map[Authorization:[AWS4-HMAC-SHA256 Signature=" + sig + "] X-Vault-Token:[secretvalue]]",
			wantGone: []string{sig, "secretvalue"}},
		{name: "presigned query", in: "GET /?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=" + sig + "&X-Amz-Date=1",
			wantGone: []string{sig, "AKIA%2F2026"}},
		{name: "signature alone", in: "bad request Signature=" + sig + " here", want: "bad request Signature=[redacted] here"},
		{name: "long base64", in: "body " + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 90))) + " end", want: "body [redacted] end"},
		{name: "known secrets, raw and with escaped slashes", in: `echo: ` + testSecret + ` and ` + strings.ReplaceAll(testSecret, "/", `\/`),
			secrets: []string{testSecret, "POST"}, want: "echo: [redacted] and [redacted]"},
		{name: "what Vault says of a refusal stays", in: `IAM Principal "arn:aws:sts::222222222222:assumed-role/vault-secondary-role1/i-0123456789abcdef0" does not belong to the role "vault-role2"; ` +
			`error validating X-Vault-AWS-IAM-Server-ID header: expected "vault.example.com" but got "other"; entry for role web not found`,
			secrets: []string{"vault-role2-but-longer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.in, tt.secrets...)
			want := tt.want
			if want == "" && tt.wantGone == nil {
				want = tt.in
			}
			if want != "" && got != want {
				t.Errorf("Redact =\n%q\nwant\n%q", got, want)
			}
			for _, g := range tt.wantGone {
				if strings.Contains(got, g) {
					t.Errorf("%q is still in %q", g, got)
				}
			}
			for _, s := range tt.wantStays {
				if !strings.Contains(got, s) {
					t.Errorf("%q is missing from %q", s, got)
				}
			}
		})
	}
}

// An ec2 login body's nonce and signed document are secrets too.
func TestRequestSecretsOfAnEC2Login(t *testing.T) {
	body := `{"role":"web-role","nonce":"5f2c0e4e-nonce-value","pkcs7":"MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwGggCSABIIB"}`
	r, err := http.NewRequest(http.MethodPut, "http://vault/v1/auth/aws/login", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got := Redact("echo "+body, requestSecrets(r)...)
	for _, secret := range []string{"5f2c0e4e-nonce-value", "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwGggCSABIIB"} {
		if strings.Contains(got, secret) {
			t.Errorf("Redact shows %q: %s", secret, got)
		}
	}
	if !strings.Contains(got, `"role":"web-role"`) {
		t.Errorf("the role should stay: %s", got)
	}
}
