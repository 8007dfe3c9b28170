package awsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- a test-side SigV4 signer, written independently of the fake's ----

// tSigner signs like an SDK client: it signs host, x-amz-date,
// content-type (when set), x-amz-security-token (when there is a token) and
// any extra headers the caller names.
type tSigner struct {
	akid, secret, token string
	region, service     string
	when                time.Time
}

func tHMAC(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	io.WriteString(m, s)
	return m.Sum(nil)
}

func tHash(b []byte) string {
	h := sha256.New()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// sign adds X-Amz-Date, X-Amz-Security-Token and Authorization to req.
// signedPath is the URL path the client believes it talks to; host the
// host it believes it talks to.
func (s tSigner) sign(req *http.Request, body []byte, host, signedPath string, extra ...string) {
	date := s.when.UTC().Format("20060102T150405Z")
	day := date[:8]
	req.Header.Set("X-Amz-Date", date)
	if s.token != "" {
		req.Header.Set("X-Amz-Security-Token", s.token)
	}
	values := map[string]string{"host": host, "x-amz-date": date}
	if ct := req.Header.Get("Content-Type"); ct != "" {
		values["content-type"] = ct
	}
	if s.token != "" {
		values["x-amz-security-token"] = s.token
	}
	for _, h := range extra {
		values[strings.ToLower(h)] = req.Header.Get(h)
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	var hdrs strings.Builder
	for _, n := range names {
		hdrs.WriteString(n + ":" + strings.TrimSpace(values[n]) + "\n")
	}
	signedHeaders := strings.Join(names, ";")
	query := strings.ReplaceAll(req.URL.Query().Encode(), "+", "%20")
	creq := strings.Join([]string{req.Method, signedPath, query, hdrs.String(), signedHeaders, tHash(body)}, "\n")
	scope := strings.Join([]string{day, s.region, s.service, "aws4_request"}, "/")
	sts := "AWS4-HMAC-SHA256\n" + date + "\n" + scope + "\n" + tHash([]byte(creq))
	key := []byte("AWS4" + s.secret)
	for _, part := range []string{day, s.region, s.service, "aws4_request"} {
		key = tHMAC(key, part)
	}
	sig := hex.EncodeToString(tHMAC(key, sts))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+s.akid+"/"+scope+", SignedHeaders="+signedHeaders+", Signature="+sig)
}

// ---- fixture ----

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	acctPrimary   = "111111111111"
	acctSecondary = "222222222222"
	trustRoleARN  = "arn:aws:iam::222222222222:role/trust-relationship-for-primary-aws-and-vault"
	serverIDValue = "vault.example.com"
)

var (
	t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

	instance1 = MakeID("i-", "client1")
	instance2 = MakeID("i-", "client2")

	vaultPrimary = Identity{
		AccessKeyID:     MakeID("AKIA", "vault-primary"),
		SecretAccessKey: "primary/secret+key0123456789abcdefghijkl",
		ARN:             "arn:aws:iam::111111111111:user/vault-primary",
		UserID:          MakeID("AIDA", "vault-primary"),
	}
	client1 = Identity{
		AccessKeyID:     MakeID("ASIA", "client1"),
		SecretAccessKey: "client1/secret+key0123456789abcdefghijkl",
		SessionToken:    "client1-session-token/abc+def==",
		ARN:             "arn:aws:sts::222222222222:assumed-role/vault-secondary-role1/" + instance1,
		UserID:          MakeID("AROA", "arn:aws:iam::222222222222:role/vault-secondary-role1") + ":" + instance1,
	}
	client2 = Identity{
		AccessKeyID:     MakeID("ASIA", "client2"),
		SecretAccessKey: "client2/secret+key0123456789abcdefghijkl",
		SessionToken:    "client2-session-token",
		ARN:             "arn:aws:sts::222222222222:assumed-role/secondary-role2/" + instance2,
		UserID:          MakeID("AROA", "arn:aws:iam::222222222222:role/secondary-role2") + ":" + instance2,
	}
)

type fixture struct {
	t     *testing.T
	fake  *Fake
	clock *testClock
	host  string // host:port of the fake
}

func baseOptions() Options {
	return Options{
		Identities: []Identity{vaultPrimary, client1, client2},
		Roles: []Role{
			{Account: acctSecondary, Name: "vault-secondary-role1"},
			{Account: acctSecondary, Name: "secondary-role2", ID: "AROASECONDARYROLE2XYZ"},
			{Account: acctSecondary, Path: "/team/", Name: "vault-secondary-x"},
			{Account: acctSecondary, Name: "trust-relationship-for-primary-aws-and-vault"},
			{Account: acctPrimary, Name: "primary-only-role"},
		},
		TrustRoles: []TrustRole{{ARN: trustRoleARN, AllowedCallers: []string{vaultPrimary.ARN}}},
		Instances: []Instance{
			{ID: instance1, Account: acctSecondary, ImageID: "ami-0123456789abcdef0", SubnetID: "subnet-0aaa", VPCID: "vpc-0bbb",
				InstanceProfileARN: "arn:aws:iam::222222222222:instance-profile/vault-secondary-role1", Region: "us-east-1"},
			{ID: instance2, Account: acctSecondary, ImageID: "ami-0fedcba9876543210", Region: "eu-west-1"},
			{ID: "i-0primary000000001", Account: acctPrimary},
		},
	}
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	clock := &testClock{t: t0}
	o.Now = clock.Now
	f, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	u, err := url.Parse(f.URL())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, fake: f, clock: clock, host: u.Host}
}

// call describes one request.
type call struct {
	method      string     // default POST
	host        string     // Host header and signed host; "" = the fake's host:port
	path        string     // path sent; default "/"
	signedPath  string     // path signed; default path
	params      url.Values // form body
	creds       Identity
	region      string    // default us-east-1
	service     string    // default: from the Action
	when        time.Time // default: the fixture clock
	headers     map[string]string
	signExtra   []string                // header names to sign in addition
	tamper      func(req *http.Request) // applied after signing
	rawBodyOver *string                 // body to send instead of the signed one
}

type reply struct {
	status int
	ctype  []string
	body   string
	header http.Header
}

func (fx *fixture) prepare(c call) func() reply {
	t := fx.t
	t.Helper()
	if c.method == "" {
		c.method = "POST"
	}
	if c.path == "" {
		c.path = "/"
	}
	if c.signedPath == "" {
		c.signedPath = c.path
	}
	if c.host == "" {
		c.host = fx.host
	}
	if c.region == "" {
		c.region = "us-east-1"
	}
	if c.service == "" {
		c.service = actionService[c.params.Get("Action")]
	}
	if c.when.IsZero() {
		c.when = fx.clock.Now()
	}
	body := []byte(c.params.Encode())
	if c.method == "GET" {
		body = nil
	}
	mk := func() *http.Request {
		req, err := http.NewRequest(c.method, fx.fake.URL()+c.path, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = c.host
		if c.method != "GET" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		}
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		return req
	}
	signedReq := mk()
	tSigner{akid: c.creds.AccessKeyID, secret: c.creds.SecretAccessKey, token: c.creds.SessionToken,
		region: c.region, service: c.service, when: c.when}.sign(signedReq, body, c.host, c.signedPath, c.signExtra...)
	signedHeader := signedReq.Header.Clone()
	return func() reply {
		req := mk()
		req.Header = signedHeader.Clone()
		if c.rawBodyOver != nil {
			req.Body = io.NopCloser(strings.NewReader(*c.rawBodyOver))
			req.ContentLength = int64(len(*c.rawBodyOver))
		}
		if c.tamper != nil {
			c.tamper(req)
		}
		return send(t, req)
	}
}

func (fx *fixture) do(c call) reply {
	fx.t.Helper()
	return fx.prepare(c)()
}

func send(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, ctype: resp.Header.Values("Content-Type"), body: string(b), header: resp.Header}
}

func gciParams() url.Values {
	return url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
}

// ---- reply decoding ----

type queryErr struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
	ReqID   string   `xml:"RequestId"`
}

type ec2Err struct {
	XMLName xml.Name `xml:"Response"`
	Code    string   `xml:"Errors>Error>Code"`
	Message string   `xml:"Errors>Error>Message"`
	ReqID   string   `xml:"RequestID"`
}

type gciReply struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Arn     string   `xml:"GetCallerIdentityResult>Arn"`
	UserID  string   `xml:"GetCallerIdentityResult>UserId"`
	Account string   `xml:"GetCallerIdentityResult>Account"`
	ReqID   string   `xml:"ResponseMetadata>RequestId"`
}

func decode[T any](t *testing.T, r reply) T {
	t.Helper()
	var v T
	if err := xml.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("cannot decode %T from %d %q: %v", v, r.status, r.body, err)
	}
	return v
}

func expectOK(t *testing.T, r reply) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	expectTextXML(t, r)
}

func expectTextXML(t *testing.T, r reply) {
	t.Helper()
	if len(r.ctype) != 1 || r.ctype[0] != "text/xml" {
		t.Fatalf("Content-Type = %q, want exactly [text/xml]", r.ctype)
	}
}

// expectErr checks an STS/IAM ErrorResponse.
func expectErr(t *testing.T, r reply, status int, code, message string) queryErr {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	expectTextXML(t, r)
	e := decode[queryErr](t, r)
	if e.Code != code || e.Type != "Sender" || e.ReqID == "" {
		t.Fatalf("error = %+v, want code %s; body %s", e, code, r.body)
	}
	if message != "" && e.Message != message {
		t.Fatalf("message = %q\nwant      %q", e.Message, message)
	}
	return e
}

const sigMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
