package awsfake

import (
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- known-answer tests (AWS's documented SigV4 examples) ----

const (
	exampleAKID   = "AKIDEXAMPLE"
	exampleSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	exampleDate   = "20150830T123600Z"
)

// The IAM ListUsers example of the SigV4 documentation, step by step.
func TestKnownAnswerIAMListUsersInternals(t *testing.T) {
	key := signingKey(exampleSecret, "20150830", "us-east-1", "iam")
	if got, want := hex.EncodeToString(key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"; got != want {
		t.Fatalf("signing key %s, want %s", got, want)
	}
	r, _ := http.NewRequest("GET", "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("X-Amz-Date", exampleDate)
	creq, _ := canonicalRequest(r, []string{"content-type", "host", "x-amz-date"}, sha256Hex(nil))
	if got, want := sha256Hex([]byte(creq)), "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"; got != want {
		t.Fatalf("canonical request hash %s, want %s\n%s", got, want, creq)
	}
	sig := hex.EncodeToString(hmacSHA256(key, stringToSign(exampleDate, "20150830/us-east-1/iam/aws4_request", creq)))
	if want := "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"; sig != want {
		t.Fatalf("signature %s, want %s", sig, want)
	}
}

// The documented examples, sent over HTTP with their published
// Authorization headers. The fake must accept the signature and then refuse
// the action it does not implement (InvalidAction), not the signature.
func TestKnownAnswerOverHTTP(t *testing.T) {
	example := Identity{AccessKeyID: exampleAKID, SecretAccessKey: exampleSecret, ARN: "arn:aws:iam::123456789012:user/example"}
	fx := newFixture(t, Options{Identities: []Identity{example}})
	fx.clock.t = time.Date(2015, 8, 30, 12, 40, 0, 0, time.UTC)

	cases := []struct {
		name, method, target, host, ctype, scope, signed, sig string
	}{
		{"iam ListUsers", "GET", "/?Action=ListUsers&Version=2010-05-08", "iam.amazonaws.com",
			"application/x-www-form-urlencoded; charset=utf-8", "us-east-1/iam", "content-type;host;x-amz-date",
			"5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"},
		{"get-vanilla", "GET", "/", "example.amazonaws.com", "", "us-east-1/service", "host;x-amz-date",
			"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", "example.amazonaws.com", "", "us-east-1/service", "host;x-amz-date",
			"b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"post-vanilla", "POST", "/", "example.amazonaws.com", "", "us-east-1/service", "host;x-amz-date",
			"5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mk := func(sig string) *http.Request {
				req, err := http.NewRequest(tc.method, fx.fake.URL()+tc.target, http.NoBody)
				if err != nil {
					t.Fatal(err)
				}
				req.Host = tc.host
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
				req.Header.Set("X-Amz-Date", exampleDate)
				req.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/20150830/%s/aws4_request, SignedHeaders=%s, Signature=%s",
					exampleAKID, tc.scope, tc.signed, sig))
				return req
			}
			r := send(t, mk(tc.sig))
			expectErr(t, r, 400, "InvalidAction", "")

			bad := []byte(tc.sig)
			bad[10] ^= 1 // flip one hex digit
			r = send(t, mk(string(bad)))
			expectErr(t, r, 403, "SignatureDoesNotMatch", sigMismatch)
		})
	}
}

// ---- GetCallerIdentity ----

func TestGetCallerIdentityAcceptsSlashAndDoubleSlash(t *testing.T) {
	fx := newFixture(t, baseOptions())
	for _, path := range []string{"/", "//", "///"} {
		t.Run(path, func(t *testing.T) {
			r := fx.do(call{
				host: "sts.amazonaws.com", path: path, signedPath: "/", params: gciParams(), creds: client1,
				headers:   map[string]string{"X-Vault-AWS-IAM-Server-ID": serverIDValue},
				signExtra: []string{"X-Vault-AWS-IAM-Server-ID"},
			})
			expectOK(t, r)
			if !strings.HasPrefix(r.body, "<GetCallerIdentityResponse") {
				t.Fatalf("body must start with <GetCallerIdentityResponse for Vault: %s", r.body)
			}
			g := decode[gciReply](t, r)
			if g.Arn != client1.ARN || g.UserID != client1.UserID || g.Account != acctSecondary || g.ReqID == "" {
				t.Fatalf("got %+v", g)
			}
		})
	}
	if c := fx.fake.Counts(); c["GetCallerIdentity"] != 3 || c["rejected"] != 0 {
		t.Fatalf("counts %v", c)
	}
}

func TestGetCallerIdentityLongTermKeysAndFakeHost(t *testing.T) {
	fx := newFixture(t, baseOptions())
	// Vault's own call: to the fake's address, path "/", any region there.
	for _, region := range []string{"us-east-1", "ap-southeast-2"} {
		r := fx.do(call{params: gciParams(), creds: vaultPrimary, region: region})
		expectOK(t, r)
		if g := decode[gciReply](t, r); g.Arn != vaultPrimary.ARN || g.Account != acctPrimary {
			t.Fatalf("got %+v", g)
		}
	}
}

func TestSignedContentLength(t *testing.T) {
	fx := newFixture(t, baseOptions())
	body := gciParams().Encode()
	r := fx.do(call{
		host: "sts.amazonaws.com", path: "//", signedPath: "/", params: gciParams(), creds: client1,
		headers:   map[string]string{"Content-Length": fmt.Sprint(len(body))},
		signExtra: []string{"Content-Length"},
	})
	expectOK(t, r)
}

func TestReplayAccepted(t *testing.T) {
	fx := newFixture(t, baseOptions())
	send := fx.prepare(call{host: "sts.amazonaws.com", path: "//", signedPath: "/", params: gciParams(), creds: client1})
	expectOK(t, send())
	fx.clock.Advance(5 * time.Minute)
	expectOK(t, send())
	if c := fx.fake.Counts(); c["GetCallerIdentity"] != 2 {
		t.Fatalf("counts %v", c)
	}
}

// ---- tampering ----

func TestTamperingIsDetected(t *testing.T) {
	fx := newFixture(t, baseOptions())
	base := func() call {
		return call{
			host: "sts.amazonaws.com", path: "//", signedPath: "/", params: gciParams(), creds: client1,
			headers:   map[string]string{"X-Vault-AWS-IAM-Server-ID": serverIDValue, "User-Agent": "test-client/1"},
			signExtra: []string{"X-Vault-AWS-IAM-Server-ID"},
		}
	}
	tests := []struct {
		name   string
		mutate func(c *call)
		ok     bool
	}{
		{"untouched", func(c *call) {}, true},
		{"unsigned header changed", func(c *call) {
			c.tamper = func(r *http.Request) { r.Header.Set("User-Agent", "evil/2"); r.Header.Set("X-Extra", "1") }
		}, true},
		{"body changed", func(c *call) {
			b := "Action=GetCallerIdentity&Version=2011-06-16"
			c.rawBodyOver = &b
		}, false},
		{"signed header changed", func(c *call) {
			c.tamper = func(r *http.Request) { r.Header.Set("X-Vault-AWS-IAM-Server-ID", "other.example.com") }
		}, false},
		{"signed header dropped from SignedHeaders and changed", func(c *call) {
			c.tamper = func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-vault-aws-iam-server-id", "", 1))
				r.Header.Set("X-Vault-AWS-IAM-Server-ID", "other.example.com")
			}
		}, false},
		{"signed header removed", func(c *call) {
			c.tamper = func(r *http.Request) { r.Header.Del("X-Vault-AWS-IAM-Server-ID") }
		}, false},
		{"content type changed", func(c *call) {
			c.tamper = func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }
		}, false},
		{"host changed", func(c *call) {
			c.tamper = func(r *http.Request) { r.Host = "sts.amazonaws.com.evil.example" }
		}, false},
		{"date changed", func(c *call) {
			c.tamper = func(r *http.Request) { r.Header.Set("X-Amz-Date", t0.Add(time.Second).Format(amzDateFormat)) }
		}, false},
		{"path changed", func(c *call) { c.path = "/other" }, false},
		{"query added", func(c *call) {
			c.tamper = func(r *http.Request) { r.URL.RawQuery = "Version=2011-06-15" }
		}, false},
		{"wrong secret", func(c *call) { c.creds.SecretAccessKey = "not-the-secret" }, false},
		{"content sha256 header lies", func(c *call) {
			c.tamper = func(r *http.Request) {
				r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
			}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(&c)
			r := fx.do(c)
			if tc.ok {
				expectOK(t, r)
				return
			}
			expectErr(t, r, 403, "SignatureDoesNotMatch", "")
		})
	}
}

func TestMalformedAuthorization(t *testing.T) {
	fx := newFixture(t, baseOptions())
	r := fx.do(call{params: gciParams(), creds: client1, tamper: func(r *http.Request) { r.Header.Del("Authorization") }})
	expectErr(t, r, 403, "MissingAuthenticationToken", "Request is missing Authentication Token")

	r = fx.do(call{params: gciParams(), creds: client1, tamper: func(r *http.Request) {
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/y")
	}})
	expectErr(t, r, 400, "IncompleteSignature", "")

	r = fx.do(call{params: gciParams(), creds: client1, tamper: func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=content-type;host;", "SignedHeaders=content-type;", 1))
	}})
	expectErr(t, r, 400, "IncompleteSignature", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
}

// ---- regions, services, dates ----

func TestRegionMustFitHost(t *testing.T) {
	fx := newFixture(t, baseOptions())
	tests := []struct {
		host, region string
		ok           bool
	}{
		{"sts.amazonaws.com", "us-east-1", true},
		{"sts.amazonaws.com", "us-west-2", false},
		{"STS.AmazonAWS.com", "eu-central-1", false},
		{"sts.eu-west-1.amazonaws.com", "eu-west-1", true},
		{"sts.eu-west-1.amazonaws.com", "us-east-1", false},
		{"sts.ap-east-1.amazonaws.com:443", "ap-east-1", true},
		{"localhost:1234", "eu-west-3", true},
	}
	for _, tc := range tests {
		t.Run(tc.host+"/"+tc.region, func(t *testing.T) {
			r := fx.do(call{host: tc.host, path: "//", signedPath: "/", params: gciParams(), creds: client1, region: tc.region})
			if tc.ok {
				expectOK(t, r)
				return
			}
			expectErr(t, r, 403, "SignatureDoesNotMatch", "Credential should be scoped to a valid region, not '"+tc.region+"'. ")
			// Vault quotes the raw body in its error: keep AWS's literal quotes.
			if !strings.Contains(r.body, "<Message>Credential should be scoped to a valid region, not '"+tc.region+"'. </Message>") {
				t.Fatalf("raw body %s", r.body)
			}
		})
	}
}

func TestServiceMustFitAction(t *testing.T) {
	fx := newFixture(t, baseOptions())
	r := fx.do(call{params: gciParams(), creds: client1, service: "iam"})
	expectErr(t, r, 403, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sts'. ")

	r = fx.do(call{params: url.Values{"Action": {"GetRole"}, "RoleName": {"vault-secondary-role1"}}, creds: client1, service: "sts"})
	expectErr(t, r, 403, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'iam'. ")

	// An IAM action sent to the STS host is not an STS operation.
	r = fx.do(call{host: "sts.amazonaws.com", params: url.Values{"Action": {"GetRole"}, "RoleName": {"x"}}, creds: client1, service: "sts"})
	expectErr(t, r, 400, "InvalidAction", "Could not find operation GetRole for version 2011-06-15")

	r = fx.do(call{params: url.Values{"Action": {"GetSessionToken"}}, creds: client1, service: "sts"})
	expectErr(t, r, 400, "InvalidAction", "")
}

func TestSignatureDates(t *testing.T) {
	fx := newFixture(t, baseOptions())
	gci := func(when time.Time) reply {
		return fx.do(call{host: "sts.amazonaws.com", path: "//", signedPath: "/", params: gciParams(), creds: client1, when: when})
	}
	expectOK(t, gci(t0.Add(-14*time.Minute)))
	expectOK(t, gci(t0.Add(14*time.Minute)))

	expectErr(t, gci(t0.Add(-16*time.Minute)), 403, "SignatureDoesNotMatch",
		"Signature expired: 20260304T045007Z is now earlier than 20260304T045107Z (20260304T050607Z - 15 min.)")
	expectErr(t, gci(t0.Add(16*time.Minute)), 403, "SignatureDoesNotMatch",
		"Signature not yet current: 20260304T052207Z is still later than 20260304T052107Z (20260304T050607Z + 15 min.)")

	// The same signed request becomes stale when the clock moves on.
	send := fx.prepare(call{host: "sts.amazonaws.com", path: "//", signedPath: "/", params: gciParams(), creds: client1})
	expectOK(t, send())
	fx.clock.Advance(16 * time.Minute)
	expectErr(t, send(), 403, "SignatureDoesNotMatch", "")
}

func TestMaxSkewOption(t *testing.T) {
	o := baseOptions()
	o.MaxSkew = 90 * time.Second
	fx := newFixture(t, o)
	r := fx.do(call{params: gciParams(), creds: client1, when: t0.Add(-2 * time.Minute)})
	e := expectErr(t, r, 403, "SignatureDoesNotMatch", "")
	if !strings.HasPrefix(e.Message, "Signature expired: ") || !strings.HasSuffix(e.Message, " - 1m30s.)") {
		t.Fatalf("message %q", e.Message)
	}
}

// ---- credentials ----

func TestCredentialChecks(t *testing.T) {
	fx := newFixture(t, baseOptions())
	noToken := client1
	noToken.SessionToken = ""
	r := fx.do(call{params: gciParams(), creds: noToken})
	expectErr(t, r, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")

	wrongToken := client1
	wrongToken.SessionToken = "client1-session-token/abc+deg=="
	r = fx.do(call{params: gciParams(), creds: wrongToken})
	expectErr(t, r, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")

	extraToken := vaultPrimary
	extraToken.SessionToken = "something"
	r = fx.do(call{params: gciParams(), creds: extraToken})
	expectErr(t, r, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")

	unknown := client1
	unknown.AccessKeyID = MakeID("ASIA", "nobody")
	r = fx.do(call{params: gciParams(), creds: unknown})
	expectErr(t, r, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")

	// Rotation: a new identity works once added; replacing the secret of an
	// existing key invalidates signatures made with the old one.
	rotated := Identity{AccessKeyID: MakeID("ASIA", "client1-rotated"), SecretAccessKey: "new-secret", SessionToken: "new-token",
		ARN: client1.ARN, UserID: client1.UserID}
	r = fx.do(call{params: gciParams(), creds: rotated})
	expectErr(t, r, 403, "InvalidClientTokenId", "")
	fx.fake.AddIdentity(rotated)
	expectOK(t, fx.do(call{params: gciParams(), creds: rotated}))
	changed := rotated
	changed.SecretAccessKey = "newer-secret"
	fx.fake.AddIdentity(changed)
	expectErr(t, fx.do(call{params: gciParams(), creds: rotated}), 403, "SignatureDoesNotMatch", sigMismatch)
	expectOK(t, fx.do(call{params: gciParams(), creds: changed}))

	// Diagnostics never contain secrets or tokens.
	for _, rej := range fx.fake.Rejections() {
		for _, secret := range []string{client1.SecretAccessKey, client1.SessionToken, wrongToken.SessionToken, vaultPrimary.SecretAccessKey, rotated.SecretAccessKey, rotated.SessionToken} {
			if strings.Contains(rej, secret) {
				t.Fatalf("rejection %q contains a secret", rej)
			}
		}
	}
	c := fx.fake.Counts()
	if c["rejected"] != 6 || c["GetCallerIdentity"] != 8 || len(fx.fake.Rejections()) != 6 {
		t.Fatalf("counts %v, rejections %q", c, fx.fake.Rejections())
	}
}

// ---- AssumeRole and IAM ----

type assumeRoleReply struct {
	XMLName    xml.Name `xml:"AssumeRoleResponse"`
	AKID       string   `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
	Secret     string   `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
	Token      string   `xml:"AssumeRoleResult>Credentials>SessionToken"`
	Expiration string   `xml:"AssumeRoleResult>Credentials>Expiration"`
	RoleID     string   `xml:"AssumeRoleResult>AssumedRoleUser>AssumedRoleId"`
	Arn        string   `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
}

type getRoleReply struct {
	XMLName    xml.Name `xml:"GetRoleResponse"`
	Path       string   `xml:"GetRoleResult>Role>Path"`
	RoleName   string   `xml:"GetRoleResult>Role>RoleName"`
	RoleID     string   `xml:"GetRoleResult>Role>RoleId"`
	Arn        string   `xml:"GetRoleResult>Role>Arn"`
	CreateDate string   `xml:"GetRoleResult>Role>CreateDate"`
	Policy     string   `xml:"GetRoleResult>Role>AssumeRolePolicyDocument"`
}

func (fx *fixture) assume(t *testing.T, session string) Identity {
	t.Helper()
	r := fx.do(call{params: url.Values{
		"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {trustRoleARN},
		"RoleSessionName": {session}, "DurationSeconds": {"900"},
	}, creds: vaultPrimary})
	expectOK(t, r)
	a := decode[assumeRoleReply](t, r)
	return Identity{AccessKeyID: a.AKID, SecretAccessKey: a.Secret, SessionToken: a.Token}
}

func TestAssumeRoleAndGetRole(t *testing.T) {
	fx := newFixture(t, baseOptions())
	session := fmt.Sprint(t0.UnixNano())
	r := fx.do(call{params: url.Values{
		"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {trustRoleARN},
		"RoleSessionName": {session}, "DurationSeconds": {"900"},
	}, creds: vaultPrimary})
	expectOK(t, r)
	a := decode[assumeRoleReply](t, r)
	if !regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`).MatchString(a.AKID) || len(a.Secret) != 40 || a.Token == "" {
		t.Fatalf("credentials look wrong: %q (secret %d chars)", a.AKID, len(a.Secret))
	}
	if a.Expiration != "2026-03-04T05:21:07Z" {
		t.Fatalf("expiration %q", a.Expiration)
	}
	if a.Arn != "arn:aws:sts::222222222222:assumed-role/trust-relationship-for-primary-aws-and-vault/"+session {
		t.Fatalf("arn %q", a.Arn)
	}
	wantID := MakeID("AROA", "arn:aws:iam::222222222222:role/trust-relationship-for-primary-aws-and-vault")
	if a.RoleID != wantID+":"+session {
		t.Fatalf("assumed role id %q", a.RoleID)
	}
	assumed := Identity{AccessKeyID: a.AKID, SecretAccessKey: a.Secret, SessionToken: a.Token}

	// The new credentials are known: GetCallerIdentity says who they are.
	g := decode[gciReply](t, fx.do(call{params: gciParams(), creds: assumed}))
	if g.Arn != a.Arn || g.Account != acctSecondary || g.UserID != a.RoleID {
		t.Fatalf("got %+v", g)
	}

	getRole := func(creds Identity, name string) reply {
		return fx.do(call{params: url.Values{"Action": {"GetRole"}, "RoleName": {name}, "Version": {"2010-05-08"}}, creds: creds})
	}
	// A role with a path: the Arn keeps it (the scenario's trap).
	r = getRole(assumed, "vault-secondary-x")
	expectOK(t, r)
	gr := decode[getRoleReply](t, r)
	if gr.Arn != "arn:aws:iam::222222222222:role/team/vault-secondary-x" || gr.Path != "/team/" || gr.RoleName != "vault-secondary-x" ||
		!strings.HasPrefix(gr.RoleID, "AROA") || len(gr.RoleID) != 21 || gr.CreateDate == "" {
		t.Fatalf("got %+v", gr)
	}
	if pol, err := url.PathUnescape(gr.Policy); err != nil || !strings.Contains(pol, `"ec2.amazonaws.com"`) {
		t.Fatalf("policy %q (%v)", gr.Policy, err)
	}
	gr = decode[getRoleReply](t, getRole(assumed, "secondary-role2"))
	if gr.Arn != "arn:aws:iam::222222222222:role/secondary-role2" || gr.Path != "/" || gr.RoleID != "AROASECONDARYROLE2XYZ" {
		t.Fatalf("got %+v", gr)
	}
	// Only roles of the caller's account.
	expectErr(t, getRole(assumed, "primary-only-role"), 404, "NoSuchEntity", "The role with name primary-only-role cannot be found.")
	expectErr(t, getRole(vaultPrimary, "vault-secondary-role1"), 404, "NoSuchEntity", "The role with name vault-secondary-role1 cannot be found.")
	expectErr(t, getRole(assumed, "nope"), 404, "NoSuchEntity", "The role with name nope cannot be found.")
	expectOK(t, getRole(vaultPrimary, "primary-only-role"))

	// The temporary credentials expire.
	fx.clock.Advance(15 * time.Minute)
	expectErr(t, fx.do(call{params: gciParams(), creds: assumed}), 403, "ExpiredToken", "The security token included in the request is expired")
	expectOK(t, fx.do(call{params: gciParams(), creds: vaultPrimary}))

	c := fx.fake.Counts()
	if c["AssumeRole"] != 1 || c["GetRole"] != 6 || c["GetCallerIdentity"] != 3 || c["rejected"] != 4 {
		t.Fatalf("counts %v", c)
	}
}

func TestAssumeRoleDenied(t *testing.T) {
	o := baseOptions()
	o.TrustRoles = append(o.TrustRoles,
		TrustRole{ARN: "arn:aws:iam::222222222222:role/with-external-id", AllowedCallers: []string{vaultPrimary.ARN}, ExternalID: "ext-123"},
		TrustRole{ARN: "arn:aws:iam::222222222222:role/path/account-wide", AllowedCallers: []string{"arn:aws:iam::111111111111:root"}},
	)
	fx := newFixture(t, o)
	assume := func(creds Identity, roleArn string, extra ...string) reply {
		p := url.Values{"Action": {"AssumeRole"}, "RoleArn": {roleArn}, "RoleSessionName": {"s1"}}
		for i := 0; i+1 < len(extra); i += 2 {
			p.Set(extra[i], extra[i+1])
		}
		return fx.do(call{params: p, creds: creds})
	}
	expectErr(t, assume(client1, trustRoleARN), 403, "AccessDenied",
		"User: "+client1.ARN+" is not authorized to perform: sts:AssumeRole on resource: "+trustRoleARN)
	expectErr(t, assume(vaultPrimary, "arn:aws:iam::222222222222:role/unknown"), 403, "AccessDenied",
		"User: "+vaultPrimary.ARN+" is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/unknown")

	ext := "arn:aws:iam::222222222222:role/with-external-id"
	expectErr(t, assume(vaultPrimary, ext), 403, "AccessDenied", "")
	expectErr(t, assume(vaultPrimary, ext, "ExternalId", "wrong"), 403, "AccessDenied", "")
	expectOK(t, assume(vaultPrimary, ext, "ExternalId", "ext-123"))

	wide := "arn:aws:iam::222222222222:role/path/account-wide"
	r := assume(vaultPrimary, wide)
	expectOK(t, r)
	if a := decode[assumeRoleReply](t, r); a.Arn != "arn:aws:sts::222222222222:assumed-role/account-wide/s1" {
		t.Fatalf("path must be dropped from the assumed-role ARN: %q", a.Arn)
	}
	expectErr(t, assume(client1, wide), 403, "AccessDenied", "")

	expectErr(t, assume(vaultPrimary, trustRoleARN, "DurationSeconds", "899"), 400, "ValidationError", "")
	expectErr(t, assume(vaultPrimary, trustRoleARN, "RoleSessionName", "bad name"), 400, "ValidationError", "")
}

type getUserReply struct {
	XMLName  xml.Name `xml:"GetUserResponse"`
	Path     string   `xml:"GetUserResult>User>Path"`
	UserName string   `xml:"GetUserResult>User>UserName"`
	UserID   string   `xml:"GetUserResult>User>UserId"`
	Arn      string   `xml:"GetUserResult>User>Arn"`
}

func TestGetUser(t *testing.T) {
	o := baseOptions()
	o.Identities = append(o.Identities, Identity{AccessKeyID: MakeID("AKIA", "ops"), SecretAccessKey: "ops-secret",
		ARN: "arn:aws:iam::111111111111:user/ops/alice"})
	fx := newFixture(t, o)
	getUser := func(creds Identity, name string) reply {
		p := url.Values{"Action": {"GetUser"}, "Version": {"2010-05-08"}}
		if name != "" {
			p.Set("UserName", name)
		}
		return fx.do(call{params: p, creds: creds})
	}
	u := decode[getUserReply](t, getUser(vaultPrimary, ""))
	if u.Arn != vaultPrimary.ARN || u.UserName != "vault-primary" || u.UserID != vaultPrimary.UserID || u.Path != "/" {
		t.Fatalf("got %+v", u)
	}
	u = decode[getUserReply](t, getUser(vaultPrimary, "alice"))
	if u.Arn != "arn:aws:iam::111111111111:user/ops/alice" || u.Path != "/ops/" || !strings.HasPrefix(u.UserID, "AIDA") {
		t.Fatalf("got %+v", u)
	}
	expectErr(t, getUser(client1, ""), 400, "ValidationError", "Must specify userName when calling with non-User credentials")
	expectErr(t, getUser(client1, "vault-primary"), 404, "NoSuchEntity", "The user with name vault-primary cannot be found.")
}

type getInstanceProfileReply struct {
	XMLName xml.Name `xml:"GetInstanceProfileResponse"`
	Name    string   `xml:"GetInstanceProfileResult>InstanceProfile>InstanceProfileName"`
	ID      string   `xml:"GetInstanceProfileResult>InstanceProfile>InstanceProfileId"`
	Arn     string   `xml:"GetInstanceProfileResult>InstanceProfile>Arn"`
	Roles   []string `xml:"GetInstanceProfileResult>InstanceProfile>Roles>member>Arn"`
}

func TestGetInstanceProfile(t *testing.T) {
	fx := newFixture(t, baseOptions())
	assumed := fx.assume(t, "s1")
	gip := func(creds Identity, name string) reply {
		return fx.do(call{params: url.Values{"Action": {"GetInstanceProfile"}, "InstanceProfileName": {name}}, creds: creds})
	}
	r := gip(assumed, "vault-secondary-role1")
	expectOK(t, r)
	p := decode[getInstanceProfileReply](t, r)
	if p.Arn != "arn:aws:iam::222222222222:instance-profile/vault-secondary-role1" || p.Name != "vault-secondary-role1" ||
		!strings.HasPrefix(p.ID, "AIPA") || len(p.Roles) != 1 || p.Roles[0] != "arn:aws:iam::222222222222:role/vault-secondary-role1" {
		t.Fatalf("got %+v", p)
	}
	expectErr(t, gip(vaultPrimary, "vault-secondary-role1"), 404, "NoSuchEntity", "")
}

// ---- EC2 ----

type describeReply struct {
	XMLName      xml.Name `xml:"DescribeInstancesResponse"`
	Reservations []struct {
		OwnerID   string `xml:"ownerId"`
		Instances []struct {
			ID        string `xml:"instanceId"`
			ImageID   string `xml:"imageId"`
			StateCode int    `xml:"instanceState>code"`
			State     string `xml:"instanceState>name"`
			SubnetID  string `xml:"subnetId"`
			VPCID     string `xml:"vpcId"`
			Profile   string `xml:"iamInstanceProfile>arn"`
			ProfileID string `xml:"iamInstanceProfile>id"`
			Launch    string `xml:"launchTime"`
			DNS       string `xml:"privateDnsName"`
			AZ        string `xml:"placement>availabilityZone"`
		} `xml:"instancesSet>item"`
	} `xml:"reservationSet>item"`
}

func TestDescribeInstances(t *testing.T) {
	fx := newFixture(t, baseOptions())
	assumed := fx.assume(t, "s1")
	describe := func(creds Identity, region string, ids ...string) reply {
		p := url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}}
		for i, id := range ids {
			p.Set(fmt.Sprintf("InstanceId.%d", i+1), id)
		}
		return fx.do(call{params: p, creds: creds, region: region})
	}
	r := describe(assumed, "us-east-1", instance1)
	expectOK(t, r)
	d := decode[describeReply](t, r)
	if len(d.Reservations) != 1 || len(d.Reservations[0].Instances) != 1 || d.Reservations[0].OwnerID != acctSecondary {
		t.Fatalf("got %+v", d)
	}
	in := d.Reservations[0].Instances[0]
	if in.ID != instance1 || in.ImageID != "ami-0123456789abcdef0" || in.StateCode != 16 || in.State != "running" ||
		in.SubnetID != "subnet-0aaa" || in.VPCID != "vpc-0bbb" ||
		in.Profile != "arn:aws:iam::222222222222:instance-profile/vault-secondary-role1" || !strings.HasPrefix(in.ProfileID, "AIPA") ||
		in.Launch == "" || !strings.HasSuffix(in.DNS, ".ec2.internal") || in.AZ != "us-east-1a" {
		t.Fatalf("got %+v", in)
	}

	// Region-bound instances are only visible in their region.
	r = describe(assumed, "eu-west-1", instance2)
	expectOK(t, r)
	if d := decode[describeReply](t, r); len(d.Reservations) != 1 || d.Reservations[0].Instances[0].AZ != "eu-west-1a" {
		t.Fatalf("got %+v", d)
	}
	notFound := func(r reply, msg string) {
		t.Helper()
		if r.status != 400 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		expectTextXML(t, r)
		e := decode[ec2Err](t, r)
		if e.Code != "InvalidInstanceID.NotFound" || e.Message != msg || e.ReqID == "" {
			t.Fatalf("got %+v", e)
		}
	}
	notFound(describe(assumed, "us-east-1", instance2), "The instance ID '"+instance2+"' does not exist")
	notFound(describe(assumed, "us-east-1", "i-0primary000000001"), "The instance ID 'i-0primary000000001' does not exist")
	notFound(describe(assumed, "us-east-1", "i-1", "i-2"), "The instance IDs 'i-1, i-2' do not exist")
	notFound(describe(vaultPrimary, "us-east-1", instance1), "The instance ID '"+instance1+"' does not exist")

	// Without IDs: everything visible to the caller.
	if d := decode[describeReply](t, describe(assumed, "us-east-1")); len(d.Reservations) != 1 {
		t.Fatalf("got %+v", d)
	}
	// Errors on the EC2 path use EC2's error shape.
	r = describe(client1, "us-east-1", instance1)
	expectOK(t, r)
	r = fx.do(call{params: url.Values{"Action": {"DescribeInstances"}}, creds: client1, service: "sts"})
	if e := decode[ec2Err](t, r); r.status != 403 || e.Code != "SignatureDoesNotMatch" ||
		e.Message != "Credential should be scoped to correct service: 'ec2'. " {
		t.Fatalf("got %d %+v", r.status, e)
	}
	// A regional EC2 host fixes the region.
	r = fx.do(call{host: "ec2.eu-west-1.amazonaws.com", params: url.Values{"Action": {"DescribeInstances"}, "InstanceId.1": {instance2}},
		creds: client1, region: "us-east-1"})
	if e := decode[ec2Err](t, r); r.status != 403 || e.Message != "Credential should be scoped to a valid region, not 'us-east-1'. " {
		t.Fatalf("got %d %+v", r.status, e)
	}
	if c := fx.fake.Counts(); c["DescribeInstances"] != 10 {
		t.Fatalf("counts %v", c)
	}
}

// ---- concurrency ----

func TestConcurrentAddIdentity(t *testing.T) {
	fx := newFixture(t, baseOptions())
	var wg sync.WaitGroup
	const n = 20
	errs := make(chan string, 4*n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := Identity{
				AccessKeyID: MakeID("ASIA", fmt.Sprint("rot", i)), SecretAccessKey: fmt.Sprint("secret-", i), SessionToken: fmt.Sprint("token-", i),
				ARN: client1.ARN, UserID: client1.UserID,
			}
			fx.fake.AddIdentity(id)
			r := fx.do(call{params: gciParams(), creds: id})
			if r.status != 200 {
				errs <- r.body
			}
			_ = fx.fake.Counts()
			_ = fx.fake.Rejections()
			fx.fake.AddIdentity(id) // re-adding is harmless
		}(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := fx.do(call{params: gciParams(), creds: client2}); r.status != 200 {
				errs <- r.body
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if c := fx.fake.Counts(); c["GetCallerIdentity"] != 2*n {
		t.Fatalf("counts %v", c)
	}
}

// ---- misc ----

func TestRejectionsAreBounded(t *testing.T) {
	fx := newFixture(t, baseOptions())
	unknown := client1
	unknown.AccessKeyID = MakeID("ASIA", "nobody")
	for i := 0; i < maxRejections+5; i++ {
		fx.do(call{params: gciParams(), creds: unknown})
	}
	rej := fx.fake.Rejections()
	if len(rej) != maxRejections || fx.fake.Counts()["rejected"] != maxRejections+5 {
		t.Fatalf("%d rejections, counts %v", len(rej), fx.fake.Counts())
	}
	if !strings.HasPrefix(rej[0], "GetCallerIdentity: 403 InvalidClientTokenId: The security token included in the request is invalid.") {
		t.Fatalf("rejection %q", rej[0])
	}
}

func TestStartValidates(t *testing.T) {
	bad := []Options{
		{Identities: []Identity{{AccessKeyID: "A", ARN: "arn:aws:iam::1:user/x"}}},
		{Identities: []Identity{{AccessKeyID: "A", SecretAccessKey: "s", ARN: "not-an-arn"}}},
		{Roles: []Role{{Name: "x"}}},
		{TrustRoles: []TrustRole{{ARN: "arn:aws:iam::1:user/x"}}},
		{Instances: []Instance{{ID: "i-1"}}},
		{Instances: []Instance{{ID: "i-1", Account: "1", InstanceProfileARN: "arn:aws:iam::1:role/x"}}},
	}
	for i, o := range bad {
		if f, err := Start(o); err == nil {
			f.Close()
			t.Errorf("options %d accepted", i)
		}
	}
	f, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+$`).MatchString(f.URL()) {
		t.Fatalf("URL %q", f.URL())
	}
	f.Close()
	f.Close() // idempotent
}

func TestMakeID(t *testing.T) {
	tests := []struct {
		prefix string
		re     string
	}{
		{"AKIA", `^AKIA[A-Z2-7]{16}$`},
		{"ASIA", `^ASIA[A-Z2-7]{16}$`},
		{"AROA", `^AROA[A-Z2-7]{17}$`},
		{"AIDA", `^AIDA[A-Z2-7]{17}$`},
		{"AIPA", `^AIPA[A-Z2-7]{17}$`},
		{"i-", `^i-[0-9a-f]{17}$`},
		{"ami-", `^ami-[0-9a-f]{17}$`},
		{"subnet-", `^subnet-[0-9a-f]{17}$`},
	}
	for _, tc := range tests {
		a, b, c := MakeID(tc.prefix, "seed"), MakeID(tc.prefix, "seed"), MakeID(tc.prefix, "other")
		if !regexp.MustCompile(tc.re).MatchString(a) || a != b || a == c {
			t.Errorf("MakeID(%q): %q %q %q", tc.prefix, a, b, c)
		}
	}
	if MakeID("AROA", "x")[4:] == MakeID("AIDA", "x")[4:] {
		t.Error("prefix should feed the hash")
	}
}

func TestCanonicalURI(t *testing.T) {
	for in, want := range map[string]string{
		"":                "/",
		"/":               "/",
		"//":              "/",
		"///a//b/":        "/a/b/",
		"/a%20b":          "/a%2520b",
		"/documents and":  "/documents%20and",
		"/~user/-_.":      "/~user/-_.",
		"/%E1%88%B4":      "/%25E1%2588%25B4",
		"/foo//bar%2Fbaz": "/foo/bar%252Fbaz",
	} {
		if got := canonicalURI(in); got != want {
			t.Errorf("canonicalURI(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := canonicalQuery("b=2&a=3&a=1&c=x%20y&d=e+f&g"), "a=1&a=3&b=2&c=x%20y&d=e%20f&g="; got != want {
		t.Errorf("canonicalQuery = %q, want %q", got, want)
	}
}
