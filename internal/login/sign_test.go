package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

var testCreds = aws.Credentials{AccessKeyID: "ASIATESTCLIENT1", SecretAccessKey: "client1-secret", SessionToken: "client1-session"}

// decoded is the login body with its base64 layers removed.
type decoded struct {
	method, url, body string
	header            http.Header
	role              any
}

func decode(t *testing.T, data map[string]any) decoded {
	t.Helper()
	d := decoded{method: data["iam_http_request_method"].(string), role: data["role"]}
	for key, dst := range map[string]*string{"iam_request_url": &d.url, "iam_request_body": &d.body} {
		b, err := base64.StdEncoding.DecodeString(data[key].(string))
		if err != nil {
			t.Fatalf("%s is not standard base64: %v", key, err)
		}
		*dst = string(b)
	}
	hb, err := base64.StdEncoding.DecodeString(data["iam_request_headers"].(string))
	if err != nil {
		t.Fatalf("iam_request_headers is not standard base64: %v", err)
	}
	if err := json.Unmarshal(hb, &d.header); err != nil {
		t.Fatalf("iam_request_headers is not a JSON header map: %v", err)
	}
	return d
}

var reAuth = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`)

// verifySigV4 recomputes the signature from scratch (independently of the
// SDK) the way STS would, for a request to host with path "/".
func verifySigV4(t *testing.T, d decoded, host, secret string) (region string, signed []string) {
	t.Helper()
	m := reAuth.FindStringSubmatch(d.header.Get("Authorization"))
	if m == nil {
		t.Fatalf("authorization header has an unexpected shape: %q", d.header.Get("Authorization"))
	}
	date, region, service, signedHeaders, sig := m[2], m[3], m[4], m[5], m[6]
	if service != "sts" {
		t.Fatalf("scope service = %q, want sts", service)
	}
	signed = strings.Split(signedHeaders, ";")
	var canon strings.Builder
	for _, h := range signed {
		v := d.header.Get(h)
		if h == "host" {
			v = host
		}
		if h == "content-length" && v == "" {
			v = "43"
		}
		canon.WriteString(h + ":" + strings.TrimSpace(v) + "\n")
	}
	bodySum := sha256.Sum256([]byte(d.body))
	creq := strings.Join([]string{d.method, "/", "", canon.String(), signedHeaders, hex.EncodeToString(bodySum[:])}, "\n")
	creqSum := sha256.Sum256([]byte(creq))
	amzDate := d.header.Get("X-Amz-Date")
	sts := strings.Join([]string{"AWS4-HMAC-SHA256", amzDate, date + "/" + region + "/sts/aws4_request", hex.EncodeToString(creqSum[:])}, "\n")
	mac := func(k []byte, s string) []byte { h := hmac.New(sha256.New, k); h.Write([]byte(s)); return h.Sum(nil) }
	k := mac(mac(mac(mac([]byte("AWS4"+secret), date), region), "sts"), "aws4_request")
	if want := hex.EncodeToString(mac(k, sts)); want != sig {
		t.Fatalf("signature does not verify:\ncanonical request:\n%s", creq)
	}
	sort.Strings(signed)
	return region, signed
}

func TestIAMLoginDataSignsWhatVaultChecks(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		target      SigningTarget
		role        string
		creds       aws.Credentials
		wantHost    string
		wantSigned  []string
		wantHeader  bool
		wantSession bool
	}{
		{
			name:        "global endpoint with server id header and session token",
			target:      SigningTarget{Endpoint: "https://sts.amazonaws.com", Region: "us-east-1", HeaderValue: "vault.example.com"},
			role:        "vault-role",
			creds:       testCreds,
			wantHost:    "sts.amazonaws.com",
			wantSigned:  []string{"content-length", "content-type", "host", "x-amz-date", "x-amz-security-token", "x-vault-aws-iam-server-id"},
			wantHeader:  true,
			wantSession: true,
		},
		{
			name:       "regional endpoint, long-term keys, no header, no role",
			target:     SigningTarget{Endpoint: "https://sts.eu-west-1.amazonaws.com/", Region: "eu-west-1"},
			creds:      aws.Credentials{AccessKeyID: "AKIATEST", SecretAccessKey: "s"},
			wantHost:   "sts.eu-west-1.amazonaws.com",
			wantSigned: []string{"content-length", "content-type", "host", "x-amz-date"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := IAMLoginData(context.Background(), tt.creds, tt.target, tt.role, now)
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, data)
			if d.method != "POST" {
				t.Errorf("method = %q, want POST", d.method)
			}
			if want := "https://" + tt.wantHost + "/"; d.url != want {
				t.Errorf("url = %q, want %q (POST must have no query)", d.url, want)
			}
			if d.body != "Action=GetCallerIdentity&Version=2011-06-15" {
				t.Errorf("body = %q", d.body)
			}
			if (tt.role != "") != (d.role != nil) {
				t.Errorf("role field = %v, want %q", d.role, tt.role)
			}
			region, signed := verifySigV4(t, d, tt.wantHost, tt.creds.SecretAccessKey)
			if region != tt.target.Region {
				t.Errorf("signed region = %q, want %q", region, tt.target.Region)
			}
			if strings.Join(signed, ";") != strings.Join(tt.wantSigned, ";") {
				t.Errorf("signed headers = %v, want %v", signed, tt.wantSigned)
			}
			if got := d.header.Get(ServerIDHeader); tt.wantHeader && got != tt.target.HeaderValue || !tt.wantHeader && got != "" {
				t.Errorf("%s = %q", ServerIDHeader, got)
			}
			if got := d.header.Get("X-Amz-Security-Token"); (got != "") != tt.wantSession {
				t.Errorf("X-Amz-Security-Token present = %v, want %v", got != "", tt.wantSession)
			}
			if got := d.header.Get("X-Amz-Date"); got != "20261125T120000Z" {
				t.Errorf("X-Amz-Date = %q, want the signing time", got)
			}
			for h := range d.header {
				if strings.HasPrefix(strings.ToLower(h), "x-amz-") && !allowedAmz[http.CanonicalHeaderKey(h)] {
					t.Errorf("header %s is not in Vault's default X-Amz-* allow-list", h)
				}
			}
		})
	}
}

// Vault's default allow-list for X-Amz-* headers.
var allowedAmz = map[string]bool{
	"X-Amz-Algorithm": true, "X-Amz-Content-Sha256": true, "X-Amz-Credential": true, "X-Amz-Date": true,
	"X-Amz-Security-Token": true, "X-Amz-Signature": true, "X-Amz-Signedheaders": true, "X-Amz-User-Agent": true,
}

func TestIAMLoginDataFreshSignatureEachCall(t *testing.T) {
	tgt := SigningTarget{Endpoint: "https://sts.amazonaws.com", Region: "us-east-1"}
	a, _ := IAMLoginData(context.Background(), testCreds, tgt, "", time.Unix(1000, 0))
	b, _ := IAMLoginData(context.Background(), testCreds, tgt, "", time.Unix(2000, 0))
	if a["iam_request_headers"] == b["iam_request_headers"] {
		t.Fatal("two logins at different times carried the same signed headers")
	}
}

func TestIAMLoginDataRejectsBadEndpoint(t *testing.T) {
	_, err := IAMLoginData(context.Background(), testCreds, SigningTarget{Endpoint: "sts", Region: "us-east-1"}, "", time.Now())
	if err == nil || !strings.Contains(err.Error(), `"sts"`) {
		t.Fatalf("err = %v, want one naming the endpoint", err)
	}
}
