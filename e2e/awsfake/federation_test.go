package awsfake

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	webRoleARN = "arn:aws:iam::222222222222:role/vault-secondary-web"
	webToken   = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3ZWIifQ.sig"
	ssoToken   = "aoaSSOAccessToken"
	ssoRole    = "AWSReservedSSO_VaultSecondary_0123456789abcdef"
)

func federationOptions() Options {
	o := baseOptions()
	o.Roles = append(o.Roles, Role{Account: acctSecondary, Name: "vault-secondary-web"},
		Role{Account: acctSecondary, Path: "/aws-reserved/sso.amazonaws.com/", Name: ssoRole, ID: "AROASSOROLE000000001"})
	o.TrustRoles = append(o.TrustRoles, TrustRole{ARN: webRoleARN, WebIdentityTokens: []string{webToken}})
	o.SSOGrants = []SSOGrant{{AccessToken: ssoToken, AccountID: acctSecondary, RoleName: "VaultSecondary", IAMRoleName: ssoRole, UserName: "alice@example.com"}}
	return o
}

// unsigned posts params with no Authorization, as the SDK sends
// AssumeRoleWithWebIdentity.
func (fx *fixture) unsigned(params url.Values) reply {
	fx.t.Helper()
	req, err := http.NewRequest("POST", fx.fake.URL()+"/", strings.NewReader(params.Encode()))
	if err != nil {
		fx.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return send(fx.t, req)
}

type webIdentityReply struct {
	Arn        string `xml:"AssumeRoleWithWebIdentityResult>AssumedRoleUser>Arn"`
	AKID       string `xml:"AssumeRoleWithWebIdentityResult>Credentials>AccessKeyId"`
	Secret     string `xml:"AssumeRoleWithWebIdentityResult>Credentials>SecretAccessKey"`
	Token      string `xml:"AssumeRoleWithWebIdentityResult>Credentials>SessionToken"`
	Expiration string `xml:"AssumeRoleWithWebIdentityResult>Credentials>Expiration"`
}

func webIdentityParams(token string) url.Values {
	return url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {webRoleARN},
		"RoleSessionName": {"web-pod"}, "WebIdentityToken": {token}, "DurationSeconds": {"900"}}
}

func TestAssumeRoleWithWebIdentity(t *testing.T) {
	fx := newFixture(t, federationOptions())
	r := fx.unsigned(webIdentityParams(webToken))
	expectOK(t, r)
	a := decode[webIdentityReply](t, r)
	if a.Arn != "arn:aws:sts::222222222222:assumed-role/vault-secondary-web/web-pod" || a.AKID == "" || a.Secret == "" || a.Token == "" || a.Expiration != "2026-03-04T05:21:07Z" {
		t.Fatalf("answer %+v", a)
	}
	// The minted credentials sign requests, as the role's session.
	g := decode[gciReply](t, fx.do(call{params: gciParams(), creds: Identity{AccessKeyID: a.AKID, SecretAccessKey: a.Secret, SessionToken: a.Token}}))
	if g.Arn != a.Arn || g.Account != acctSecondary {
		t.Fatalf("GetCallerIdentity with the minted credentials: %+v", g)
	}
	if !slices.ContainsFunc(fx.fake.Secrets(), func(s Secret) bool { return s.Value == a.Secret }) {
		t.Error("Secrets does not list the minted secret key")
	}

	expectErr(t, fx.unsigned(webIdentityParams("another-token")), 400, "InvalidIdentityToken", "")
	p := webIdentityParams(webToken)
	p.Set("RoleArn", trustRoleARN) // trusts no web identity
	expectErr(t, fx.unsigned(p), 400, "InvalidIdentityToken", "")
	p = webIdentityParams(webToken)
	p.Del("WebIdentityToken")
	expectErr(t, fx.unsigned(p), 400, "ValidationError", "")
	// Other actions still need a signature.
	expectErr(t, fx.unsigned(url.Values{"Action": {"AssumeRole"}, "RoleArn": {webRoleARN}, "RoleSessionName": {"x1"}}), 403, "MissingAuthenticationToken", "")
	// A role that only web identities may assume refuses a signed AssumeRole.
	expectErr(t, fx.do(call{params: url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {webRoleARN}, "RoleSessionName": {"x1"}},
		creds: client1}), 403, "AccessDenied", "")
}

func TestSSOGetRoleCredentials(t *testing.T) {
	fx := newFixture(t, federationOptions())
	get := func(token, role, account string) reply {
		q := url.Values{"role_name": {role}, "account_id": {account}}
		req, err := http.NewRequest("GET", fx.fake.URL()+"/federation/credentials?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("x-amz-sso_bearer_token", token)
		}
		return send(t, req)
	}
	r := get(ssoToken, "VaultSecondary", acctSecondary)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var v roleCredentialsResponse
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatal(err)
	}
	c := v.RoleCredentials
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" || c.Expiration != t0.Add(time.Hour).UnixMilli() {
		t.Fatalf("credentials %+v", c)
	}
	g := decode[gciReply](t, fx.do(call{params: gciParams(), creds: Identity{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}}))
	if g.Arn != "arn:aws:sts::222222222222:assumed-role/"+ssoRole+"/alice@example.com" || g.UserID != "AROASSOROLE000000001:alice@example.com" {
		t.Fatalf("GetCallerIdentity with the portal's credentials: %+v", g)
	}
	for _, tt := range []struct {
		token, role, account string
		status               int
		errType              string
	}{
		{"wrong-token", "VaultSecondary", acctSecondary, 401, "UnauthorizedException"},
		{ssoToken, "Admin", acctSecondary, 403, "ForbiddenException"},
		{ssoToken, "VaultSecondary", acctPrimary, 403, "ForbiddenException"},
		{"", "VaultSecondary", acctSecondary, 400, "InvalidRequestException"},
	} {
		r := get(tt.token, tt.role, tt.account)
		if r.status != tt.status || r.header.Get("X-Amzn-Errortype") != tt.errType {
			t.Errorf("%+v: status %d, error type %q: %s", tt, r.status, r.header.Get("X-Amzn-Errortype"), r.body)
		}
	}
	if n := fx.fake.Counts()["GetRoleCredentials"]; n != 5 {
		t.Errorf("GetRoleCredentials counted %d times, want 5", n)
	}
}
