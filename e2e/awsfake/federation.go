package awsfake

import (
	"crypto/subtle"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// SSOGrant lets an IAM Identity Center access token (what `aws sso login`
// caches) get credentials for a permission set in an account, through the
// SSO portal's GetRoleCredentials.
type SSOGrant struct {
	AccessToken string // sent as x-amz-sso_bearer_token
	AccountID   string
	RoleName    string // the permission set, as a profile's sso_role_name
	// IAMRoleName is the role the credentials are for, as IAM Identity
	// Center names it: AWSReservedSSO_<RoleName>_<suffix>. Give it a Role
	// with the path /aws-reserved/sso.amazonaws.com/ for iam:GetRole.
	IAMRoleName string
	UserName    string // the session name in the assumed-role ARN
}

// SSO portal answers, as the portal's REST API sends them.
type roleCredentialsResponse struct {
	RoleCredentials struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		SessionToken    string `json:"sessionToken"`
		Expiration      int64  `json:"expiration"` // milliseconds since the epoch
	} `json:"roleCredentials"`
}

// ssoCredentialsLifetime is how long GetRoleCredentials' credentials last
// (the permission set's session duration, one hour by default).
const ssoCredentialsLifetime = time.Hour

// serveSSO answers the SSO portal's GetRoleCredentials: GET
// /federation/credentials?role_name=R&account_id=A with the access token
// in x-amz-sso_bearer_token. The request is not SigV4-signed.
func (f *Fake) serveSSO(w http.ResponseWriter, r *http.Request) {
	f.count("GetRoleCredentials")
	fail := func(status int, typ, msg string) {
		f.recordRejection("GetRoleCredentials", &apiError{status: status, code: typ, message: msg})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", typ)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, "InvalidRequestException", "GetRoleCredentials is a GET")
		return
	}
	q := r.URL.Query()
	token, role, account := r.Header.Get("X-Amz-Sso_bearer_token"), q.Get("role_name"), q.Get("account_id")
	if token == "" || role == "" || account == "" {
		fail(http.StatusBadRequest, "InvalidRequestException", "role_name, account_id and the x-amz-sso_bearer_token header are required")
		return
	}
	var grant *SSOGrant
	known := false
	for i := range f.ssoGrants {
		g := &f.ssoGrants[i]
		if subtle.ConstantTimeCompare([]byte(token), []byte(g.AccessToken)) != 1 {
			continue
		}
		known = true
		if g.AccountID == account && g.RoleName == role {
			grant = g
		}
	}
	switch {
	case !known:
		fail(http.StatusUnauthorized, "UnauthorizedException", "Session token not found or invalid")
		return
	case grant == nil:
		fail(http.StatusForbidden, "ForbiddenException", "No access")
		return
	}
	arn := fmt.Sprintf("arn:aws:iam::%s:role/aws-reserved/sso.amazonaws.com/%s", grant.AccountID, grant.IAMRoleName)
	id, expires := f.mint(arn, grant.UserName, f.now().Add(ssoCredentialsLifetime))
	var v roleCredentialsResponse
	v.RoleCredentials.AccessKeyID = id.AccessKeyID
	v.RoleCredentials.SecretAccessKey = id.SecretAccessKey
	v.RoleCredentials.SessionToken = id.SessionToken
	v.RoleCredentials.Expiration = expires.UnixMilli()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// ---- sts:AssumeRoleWithWebIdentity ----

type assumeRoleWithWebIdentityResponse struct {
	XMLName xml.Name `xml:"AssumeRoleWithWebIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		SubjectFromWebIdentityToken string `xml:"SubjectFromWebIdentityToken"`
		AssumedRoleUser             struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			Arn           string `xml:"Arn"`
		} `xml:"AssumedRoleUser"`
		Credentials credentialsXML `xml:"Credentials"`
		Provider    string         `xml:"Provider"`
		Audience    string         `xml:"Audience"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

// credentialsXML is the Credentials element of the STS answers.
type credentialsXML struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

// assumeRoleWithWebIdentity answers an unsigned AssumeRoleWithWebIdentity:
// the token must be one of the trust role's WebIdentityTokens.
func (f *Fake) assumeRoleWithWebIdentity(req *request, requestID string) (any, *apiError) {
	p := req.params
	roleArn, session, token := p.Get("RoleArn"), p.Get("RoleSessionName"), p.Get("WebIdentityToken")
	for _, m := range []struct{ name, v string }{{"roleArn", roleArn}, {"roleSessionName", session}, {"webIdentityToken", token}} {
		if m.v == "" {
			return nil, errValidation(fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", m.name))
		}
	}
	if !sessionNameRE.MatchString(session) {
		return nil, errValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session))
	}
	duration, e := durationParam(p.Get("DurationSeconds"))
	if e != nil {
		return nil, e
	}
	tr := f.trustRole(roleArn)
	accepted := false
	if tr != nil {
		for _, t := range tr.WebIdentityTokens {
			if subtle.ConstantTimeCompare([]byte(token), []byte(t)) == 1 {
				accepted = true
			}
		}
	}
	if !accepted {
		return nil, &apiError{status: http.StatusBadRequest, code: "InvalidIdentityToken",
			message: "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements",
			detail:  "no trust role with this web identity token"}
	}
	id, expires := f.mint(roleArn, session, req.now.Add(time.Duration(duration)*time.Second))
	var v assumeRoleWithWebIdentityResponse
	v.Xmlns = xmlnsOf["sts"]
	v.Result.SubjectFromWebIdentityToken = "system:serviceaccount:default:" + session
	v.Result.AssumedRoleUser.AssumedRoleID = id.UserID
	v.Result.AssumedRoleUser.Arn = id.ARN
	v.Result.Credentials = credentialsXML{id.AccessKeyID, id.SecretAccessKey, id.SessionToken, expires.Format(time.RFC3339)}
	v.Result.Provider = "oidc.eks.us-east-1.amazonaws.com/id/FAKE"
	v.Result.Audience = "sts.amazonaws.com"
	v.Meta.RequestID = requestID
	return v, nil
}

// durationParam reads DurationSeconds: 3600 when absent, 900 to 43200.
func durationParam(d string) (int, *apiError) {
	if d == "" {
		return 3600, nil
	}
	n, err := strconv.Atoi(d)
	switch {
	case err != nil:
		return 0, errValidation(fmt.Sprintf("Value '%s' for parameter DurationSeconds is invalid.", d))
	case n < 900:
		return 0, errValidation(fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", n))
	case n > 43200:
		return 0, errValidation(fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", n))
	}
	return n, nil
}

// trustRole is the configured trust role with ARN roleArn, or nil.
func (f *Fake) trustRole(roleArn string) *TrustRole {
	for i := range f.trustRoles {
		if f.trustRoles[i].ARN == roleArn {
			return &f.trustRoles[i]
		}
	}
	return nil
}

// mint issues temporary credentials for a session of the role roleArn
// (its path, if any, dropped from the assumed-role ARN, as AWS does), good
// until expires, and registers them so that they sign requests.
func (f *Fake) mint(roleArn, session string, expires time.Time) (Identity, time.Time) {
	ra, _ := parseARN(roleArn)
	name, _ := ra.nameAndPath()
	roleID := MakeID("AROA", roleArn)
	for _, r := range f.roles {
		if r.Account == ra.account && r.Name == name {
			roleID = r.ID
			break
		}
	}
	akid, secret, token := newTemporaryCredentials()
	expires = expires.UTC().Truncate(time.Second)
	id := Identity{
		AccessKeyID:     akid,
		SecretAccessKey: secret,
		SessionToken:    token,
		ARN:             fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", ra.partition, ra.account, name, session),
		UserID:          roleID + ":" + session,
		Account:         ra.account,
	}
	f.mu.Lock()
	f.creds[akid] = credential{Identity: id, expires: expires}
	f.mu.Unlock()
	return id, expires
}

// Secret is a value no client log may show, and what kind of secret it is.
type Secret struct{ Kind, Value string }

// Secrets returns every secret the fake knows: the secret keys and session
// tokens of the configured identities and of every credential it has
// minted, the trust roles' web identity tokens and the SSO access tokens.
func (f *Fake) Secrets() []Secret {
	var out []Secret
	f.mu.Lock()
	for _, c := range f.creds {
		out = append(out, Secret{"aws secret access key (" + c.ARN + ")", c.SecretAccessKey})
		if c.SessionToken != "" {
			out = append(out, Secret{"aws session token (" + c.ARN + ")", c.SessionToken})
		}
	}
	f.mu.Unlock()
	for _, t := range f.trustRoles {
		for _, tok := range t.WebIdentityTokens {
			out = append(out, Secret{"web identity token (" + t.ARN + ")", tok})
		}
	}
	for _, g := range f.ssoGrants {
		out = append(out, Secret{"sso access token (" + g.RoleName + ")", g.AccessToken})
	}
	return out
}
