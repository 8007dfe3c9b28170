package awsfake

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Identity is a set of credentials the fake knows, and who they belong to.
type Identity struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is "" for long-term IAM user keys. When set, requests
	// must carry it in X-Amz-Security-Token.
	SessionToken string
	// ARN is what GetCallerIdentity returns, e.g.
	// arn:aws:sts::222222222222:assumed-role/vault-secondary-role1/i-0123456789abcdef1
	// or arn:aws:iam::111111111111:user/vault-primary.
	ARN string
	// UserID is GetCallerIdentity's UserId, e.g. AROA...:i-0123... or AIDA....
	UserID string
	// Account is the caller's account; "" means the account in ARN.
	Account string
}

// Role is an IAM role that iam:GetRole can return.
type Role struct {
	Account string
	Path    string // "/" or "/team/"; "" means "/"
	Name    string
	ID      string // AROA...; "" means MakeID("AROA", <role ARN>)
}

// TrustRole is an sts:AssumeRole target.
type TrustRole struct {
	// ARN of the role, e.g.
	// arn:aws:iam::222222222222:role/trust-relationship-for-primary-aws-and-vault.
	ARN string
	// AllowedCallers are caller ARNs (Identity.ARN) allowed to assume it.
	// An account root ARN (arn:aws:iam::<account>:root) allows every caller
	// of that account, as it does in a real trust policy.
	AllowedCallers []string
	// ExternalID, when set, must be sent as ExternalId (Vault's
	// config/sts external_id); otherwise AssumeRole is denied.
	ExternalID string
	// WebIdentityTokens may assume the role with the unsigned
	// AssumeRoleWithWebIdentity (as an OIDC provider's tokens would, such
	// as an EKS service account's). The fake does not parse them.
	WebIdentityTokens []string
}

// Instance is an EC2 instance that DescribeInstances can return (always
// "running").
type Instance struct {
	ID, Account, ImageID, SubnetID, VPCID, InstanceProfileARN string
	// Region, when set, is the only region (credential scope) the instance
	// is visible in.
	Region string
}

// Options configures a Fake.
type Options struct {
	Identities []Identity
	Roles      []Role
	TrustRoles []TrustRole
	Instances  []Instance
	SSOGrants  []SSOGrant
	Now        func() time.Time // nil = time.Now
	MaxSkew    time.Duration    // 0 = 15 * time.Minute
}

// Fake is a running emulator. Its methods are safe for concurrent use.
type Fake struct {
	roles      []Role
	trustRoles []TrustRole
	instances  []Instance
	ssoGrants  []SSOGrant
	now        func() time.Time
	maxSkew    time.Duration

	ln  net.Listener
	srv *http.Server
	url string

	closeOnce sync.Once

	mu         sync.Mutex
	creds      map[string]credential // by access key ID
	counts     map[string]int
	rejections []string
	signatures []string
}

// credential is a known identity; expires is zero for long-term keys.
type credential struct {
	Identity
	expires time.Time
}

const (
	maxBody       = 1 << 20
	maxRejections = 100
	maxSignatures = 1 << 16
	// keyRejected is the Counts key for error replies.
	keyRejected = "rejected"
	// keyNoAction is the Counts key for requests without an Action.
	keyNoAction = "(no Action)"
)

// actionService maps the supported actions to the service that serves them.
var actionService = map[string]string{
	"GetCallerIdentity":         "sts",
	"AssumeRole":                "sts",
	"AssumeRoleWithWebIdentity": "sts",
	"GetRole":                   "iam",
	"GetUser":                   "iam",
	"GetInstanceProfile":        "iam",
	"DescribeInstances":         "ec2",
}

// Start validates o and starts serving on 127.0.0.1 (a random port).
func Start(o Options) (*Fake, error) {
	f := &Fake{
		now:     o.Now,
		maxSkew: o.MaxSkew,
		creds:   map[string]credential{},
		counts:  map[string]int{},
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.maxSkew <= 0 {
		f.maxSkew = 15 * time.Minute
	}
	for i, id := range o.Identities {
		if id.AccessKeyID == "" || id.SecretAccessKey == "" || id.ARN == "" {
			return nil, fmt.Errorf("awsfake: identity %d: AccessKeyID, SecretAccessKey and ARN are required", i)
		}
		if _, ok := parseARN(id.ARN); !ok {
			return nil, fmt.Errorf("awsfake: identity %d: invalid ARN %q", i, id.ARN)
		}
		f.creds[id.AccessKeyID] = credential{Identity: normalizeIdentity(id)}
	}
	for i, r := range o.Roles {
		if r.Account == "" || r.Name == "" {
			return nil, fmt.Errorf("awsfake: role %d: Account and Name are required", i)
		}
		r.Path = normalizePath(r.Path)
		if r.ID == "" {
			r.ID = MakeID("AROA", roleARN("aws", r))
		}
		f.roles = append(f.roles, r)
	}
	for i, t := range o.TrustRoles {
		a, ok := parseARN(t.ARN)
		if !ok || a.service != "iam" || a.resourceType() != "role" || a.account == "" {
			return nil, fmt.Errorf("awsfake: trust role %d: %q is not an IAM role ARN", i, t.ARN)
		}
		t.AllowedCallers = append([]string(nil), t.AllowedCallers...)
		t.WebIdentityTokens = append([]string(nil), t.WebIdentityTokens...)
		f.trustRoles = append(f.trustRoles, t)
	}
	for i, g := range o.SSOGrants {
		if g.AccessToken == "" || g.AccountID == "" || g.RoleName == "" || g.IAMRoleName == "" || !sessionNameRE.MatchString(g.UserName) {
			return nil, fmt.Errorf("awsfake: SSO grant %d: AccessToken, AccountID, RoleName, IAMRoleName and a UserName fit for a session name are required", i)
		}
		f.ssoGrants = append(f.ssoGrants, g)
	}
	for i, in := range o.Instances {
		if in.ID == "" || in.Account == "" {
			return nil, fmt.Errorf("awsfake: instance %d: ID and Account are required", i)
		}
		if in.InstanceProfileARN != "" {
			if a, ok := parseARN(in.InstanceProfileARN); !ok || a.resourceType() != "instance-profile" {
				return nil, fmt.Errorf("awsfake: instance %d: %q is not an instance profile ARN", i, in.InstanceProfileARN)
			}
		}
		f.instances = append(f.instances, in)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("awsfake: listen: %w", err)
	}
	f.ln = ln
	f.url = "http://" + ln.Addr().String()
	// A bare handler, not a ServeMux: Vault forwards to path "//", which a
	// mux would answer with a redirect that Vault does not follow.
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serveHTTP), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// URL is the fake's base URL, http://127.0.0.1:port (no trailing slash).
// Use it for Vault's sts_endpoint, iam_endpoint and endpoint.
func (f *Fake) URL() string { return f.url }

// Close stops the server and closes open connections.
func (f *Fake) Close() {
	f.closeOnce.Do(func() { _ = f.srv.Close() })
}

// AddIdentity registers (or replaces, by AccessKeyID) a set of credentials.
// Use it for credential rotation. Identities without an AccessKeyID are
// ignored.
func (f *Fake) AddIdentity(id Identity) {
	if id.AccessKeyID == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creds[id.AccessKeyID] = credential{Identity: normalizeIdentity(id)}
}

// Counts returns how many requests the fake has seen per Action
// ("GetCallerIdentity", "AssumeRole", "GetRole", "GetUser",
// "GetInstanceProfile", "DescribeInstances", any other Action name as sent,
// or "(no Action)"), whether they succeeded or not, and under "rejected"
// how many got an error reply.
func (f *Fake) Counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.counts))
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

// Rejections returns the last 100 error replies, oldest first, as
// "<Action>: <status> <Code>: <Message>", sometimes followed by
// " [<diagnostics>]" (never sent to the client, never secret).
func (f *Fake) Rejections() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.rejections...)
}

// Signatures returns the Signature value of every well-formed SigV4
// Authorization header the fake has received, valid or not, oldest first
// (past 65536 the older half is dropped). A client's log must never show
// one: a valid signature can be replayed for 15 minutes.
func (f *Fake) Signatures() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.signatures...)
}

func (f *Fake) recordSignature(sig string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signatures = append(f.signatures, sig)
	if n := len(f.signatures); n > maxSignatures {
		f.signatures = append([]string(nil), f.signatures[n-maxSignatures/2:]...)
	}
}

func normalizeIdentity(id Identity) Identity {
	if id.Account == "" {
		if a, ok := parseARN(id.ARN); ok {
			id.Account = a.account
		}
	}
	return id
}

func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

func (f *Fake) lookup(akid string) (credential, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.creds[akid]
	return c, ok
}

func (f *Fake) count(action string) {
	if action == "" {
		action = keyNoAction
	}
	f.mu.Lock()
	f.counts[action]++
	f.mu.Unlock()
}

func (f *Fake) recordRejection(action string, e *apiError) {
	if action == "" {
		action = keyNoAction
	}
	msg := fmt.Sprintf("%s: %d %s: %s", action, e.status, e.code, e.message)
	if e.detail != "" {
		msg += " [" + e.detail + "]"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[keyRejected]++
	f.rejections = append(f.rejections, msg)
	if n := len(f.rejections); n > maxRejections {
		f.rejections = append([]string(nil), f.rejections[n-maxRejections:]...)
	}
}

// request is one authenticated request on its way to an action handler.
type request struct {
	caller credential
	auth   authHeader
	params url.Values
	now    time.Time
}

func (f *Fake) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/federation/credentials" {
		f.serveSSO(w, r)
		return
	}
	requestID := newRequestID()
	hostSvc, hostRegion, hostKnown := hostScope(r.Host)

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		f.count("")
		svc := "sts"
		if hostKnown {
			svc = hostSvc
		}
		e := errValidation("Could not read the request body.")
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			e = &apiError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLarge", message: "Request body too large."}
		}
		f.reply(w, svc, requestID, "", nil, e)
		return
	}
	params, perr := requestParams(r, body)
	action := params.Get("Action")
	f.count(action)

	actSvc, actKnown := actionService[action]
	// The service whose rules and error shape apply: the host's for a real
	// AWS host name, otherwise the action's.
	svc, expectSvc := "sts", ""
	switch {
	case hostKnown:
		svc, expectSvc = hostSvc, hostSvc
	case actKnown:
		svc, expectSvc = actSvc, actSvc
	}

	if action == "AssumeRoleWithWebIdentity" && perr == nil && (!hostKnown || hostSvc == "sts") {
		// Unsigned, as real STS takes it: the token is the credential.
		resp, e := f.assumeRoleWithWebIdentity(&request{params: params, now: f.now()}, requestID)
		f.reply(w, "sts", requestID, action, resp, e)
		return
	}
	caller, auth, aerr := f.authenticate(r, body, expectSvc, hostKnown, hostRegion)
	if expectSvc == "" && auth.service != "" {
		if _, ok := xmlnsOf[auth.service]; ok {
			svc = auth.service
		}
	}
	if aerr != nil {
		f.reply(w, svc, requestID, action, nil, aerr)
		return
	}
	if perr != nil {
		f.reply(w, svc, requestID, action, nil, errValidation("The request body could not be parsed as a form."))
		return
	}
	if !actKnown || (hostKnown && actSvc != hostSvc) {
		f.reply(w, svc, requestID, action, nil, errInvalidAction(svc, action))
		return
	}

	req := &request{caller: caller, auth: auth, params: params, now: f.now()}
	var (
		resp any
		e    *apiError
	)
	switch action {
	case "GetCallerIdentity":
		resp, e = f.getCallerIdentity(req, requestID)
	case "AssumeRole":
		resp, e = f.assumeRole(req, requestID)
	case "GetRole":
		resp, e = f.getRole(req, requestID)
	case "GetUser":
		resp, e = f.getUser(req, requestID)
	case "GetInstanceProfile":
		resp, e = f.getInstanceProfile(req, requestID)
	case "DescribeInstances":
		resp, e = f.describeInstances(req, requestID)
	}
	f.reply(w, svc, requestID, action, resp, e)
}

func (f *Fake) reply(w http.ResponseWriter, svc, requestID, action string, resp any, e *apiError) {
	if e != nil {
		f.recordRejection(action, e)
		writeError(w, svc, requestID, e)
		return
	}
	writeXML(w, http.StatusOK, resp)
}

// requestParams merges the query string and, for form bodies, the body.
func requestParams(r *http.Request, body []byte) (url.Values, error) {
	params := url.Values{}
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	for k, v := range q {
		params[k] = append(params[k], v...)
	}
	ct := r.Header.Get("Content-Type")
	isForm := ct == "" && len(body) > 0
	if ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/x-www-form-urlencoded" {
			isForm = true
		}
	}
	var berr error
	if isForm {
		var b url.Values
		b, berr = url.ParseQuery(string(body))
		for k, v := range b {
			params[k] = append(params[k], v...)
		}
	}
	if qerr != nil {
		return params, qerr
	}
	return params, berr
}

// authenticate checks the SigV4 signature of r and returns the caller.
func (f *Fake) authenticate(r *http.Request, body []byte, expectSvc string, hostKnown bool, hostRegion string) (credential, authHeader, *apiError) {
	var none credential
	authz := r.Header.Get("Authorization")
	if authz == "" {
		if r.URL.Query().Get("X-Amz-Algorithm") != "" {
			return none, authHeader{}, errIncompleteSignature("awsfake does not support presigned (query string) requests.")
		}
		return none, authHeader{}, errMissingAuth()
	}
	auth, e := parseAuthorization(authz)
	if e != nil {
		return none, auth, e
	}
	f.recordSignature(auth.signature)
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return none, auth, errIncompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. (awsfake supports only X-Amz-Date.)")
	}
	if e := checkDate(amzDate, auth, f.now(), f.maxSkew); e != nil {
		return none, auth, e
	}
	if hostKnown && auth.region != hostRegion {
		e := errSignature(fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", auth.region))
		e.detail = fmt.Sprintf("host %q wants region %q", r.Host, hostRegion)
		return none, auth, e
	}
	if expectSvc != "" && auth.service != expectSvc {
		return none, auth, errSignature(fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", expectSvc))
	}
	cred, ok := f.lookup(auth.accessKeyID)
	if !ok {
		e := errInvalidToken()
		e.detail = "unknown access key"
		return none, auth, e
	}
	token := r.Header.Get("X-Amz-Security-Token")
	switch {
	case cred.SessionToken == "" && token != "":
		e := errInvalidToken()
		e.detail = "session token sent with long-term keys"
		return none, auth, e
	case cred.SessionToken != "" && token == "":
		e := errInvalidToken()
		e.detail = "temporary credentials without X-Amz-Security-Token"
		return none, auth, e
	case cred.SessionToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(cred.SessionToken)) != 1:
		e := errInvalidToken()
		e.detail = "wrong session token"
		return none, auth, e
	}
	if !cred.expires.IsZero() && !f.now().Before(cred.expires) {
		return none, auth, errExpiredToken()
	}
	if e := checkSignature(verifyInput{r: r, body: body, auth: auth, amzDate: amzDate, secret: cred.SecretAccessKey}); e != nil {
		return none, auth, e
	}
	return cred, auth, nil
}
