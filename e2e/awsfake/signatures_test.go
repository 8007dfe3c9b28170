package awsfake

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestSignaturesRecordsWhatWasSent(t *testing.T) {
	fx := newFixture(t, baseOptions())
	if got := fx.fake.Signatures(); len(got) != 0 {
		t.Fatalf("a new fake has signatures: %q", got)
	}
	sigOf := func(r *http.Request) string {
		_, sig, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
		return sig
	}
	var sent []string
	record := func(r *http.Request) { sent = append(sent, sigOf(r)) }

	expectOK(t, fx.do(call{params: gciParams(), creds: client1, tamper: record}))
	// A wrong signature is recorded too: it was computed with a real key.
	expectErr(t, fx.do(call{params: gciParams(), creds: Identity{AccessKeyID: client1.AccessKeyID,
		SecretAccessKey: "wrong", SessionToken: client1.SessionToken}, tamper: record}), 403, "SignatureDoesNotMatch", sigMismatch)
	// A header that does not parse carries no signature worth recording.
	fx.do(call{params: gciParams(), creds: client1, tamper: func(r *http.Request) {
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Signature=abc")
	}})

	got := fx.fake.Signatures()
	if !slices.Equal(got, sent) {
		t.Fatalf("Signatures() = %q, want %q", got, sent)
	}
	for _, s := range got {
		if len(s) != 64 {
			t.Errorf("signature %q is not 64 hex digits", s)
		}
	}
	got[0] = "changed"
	if fx.fake.Signatures()[0] == "changed" {
		t.Error("Signatures returns the fake's own slice")
	}
}

func TestSignaturesAreBounded(t *testing.T) {
	fx := newFixture(t, baseOptions())
	for i := range maxSignatures + 1 {
		fx.fake.recordSignature(string(rune('a' + i%26)))
	}
	if n := len(fx.fake.Signatures()); n > maxSignatures || n < maxSignatures/2 {
		t.Fatalf("%d signatures kept, want between %d and %d", n, maxSignatures/2, maxSignatures)
	}
}
