package imdsdoc

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/helper/pkcs7"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("X-aws-ec2-metadata-token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerServesVerifiableDocuments(t *testing.T) {
	s, err := NewSigner("test")
	if err != nil {
		t.Fatal(err)
	}
	doc := Document{AccountID: "222222222222", InstanceID: "i-1", ImageID: "ami-1", Region: "eu-west-1", PendingTime: "2026-01-02T03:04:05Z"}
	srv, err := Start(doc, s)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	if code, _ := get(t, srv.URL+PathDocument, ""); code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d, want 401 (IMDSv2 only)", code)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := string(tb)

	_, raw := get(t, srv.URL+PathDocument, token)
	var got Document
	if err := json.Unmarshal([]byte(raw), &got); err != nil || got != doc {
		t.Fatalf("document %q: %v", raw, err)
	}
	_, sigB64 := get(t, srv.URL+PathSignature, token)
	sig, err := base64.StdEncoding.DecodeString(sigB64) // ignores the line breaks
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Cert.CheckSignature(x509.SHA256WithRSA, []byte(raw), sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	for _, p := range []string{PathPKCS7, PathRSA2048} {
		_, b64 := get(t, srv.URL+p, token)
		if !strings.Contains(b64, "\n") {
			t.Errorf("%s is not broken into lines", p)
		}
		der, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		p7, err := pkcs7.Parse(der)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		p7.Certificates = []*x509.Certificate{s.Cert}
		if err := p7.Verify(); err != nil {
			t.Fatalf("%s: verify: %v", p, err)
		}
		if string(p7.Content) != raw {
			t.Errorf("%s embeds %q, want the document", p, p7.Content)
		}
		if srv.Hits(p) != 1 {
			t.Errorf("hits of %s = %d", p, srv.Hits(p))
		}
	}
}
