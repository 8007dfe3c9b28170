package diagnose

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/logincreds"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/xauth-agent/xauth-agent/internal/awsname"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/login"
)

func (d *diagnosis) checkConfig(context.Context) Result {
	if d.o.ConfigErr != nil || d.cfg == nil {
		err := d.o.ConfigErr
		if err == nil {
			err = errors.New("no configuration")
		}
		return failed(failure.Config, err.Error(), "correct the settings named above (config file, VAULT_*/XAUTH_* environment, flags)")
	}
	a := d.cfg.Auth
	if a.Type != "iam" {
		return failed(failure.Config, fmt.Sprintf("auth type is %q", a.Type),
			"diagnose covers the iam type; to check an ec2 login, run xauth-agent --once --log-level debug")
	}
	d.cfgOK = true
	src := "no config file"
	if d.cfg.Source != "" {
		src = d.cfg.Source
	}
	role := a.Role
	if role == "" {
		role = "(none: Vault uses the IAM role's name)"
	}
	r := Result{Status: Pass,
		Saw: fmt.Sprintf("%s: iam login to %s at auth/%s, role %s", src, d.cfg.Vault.Address(), a.Mount, role),
		Details: map[string]any{
			"config_file": d.cfg.Source, "vault_addr": d.cfg.Vault.Address(), "namespace": d.cfg.Vault.Namespace,
			"mount": a.Mount, "role": a.Role, "sts_region": a.STSRegion, "sts_endpoint": a.STSEndpoint,
			"header_value": a.HeaderValue, "imds_v2_only": a.IMDSv2Only,
		},
	}
	if ar := a.AssumeRole; ar.ARN != "" {
		r.Details["assume_role_arn"], r.Details["assume_role_duration"] = ar.ARN, ar.Duration.String()
		r.Saw += fmt.Sprintf("\nsigns with role %s, assumed with the AWS SDK's credentials", ar.ARN)
	}
	if len(d.cfg.Warnings) > 0 {
		r.Status = Warn
		r.Saw += "\n" + strings.Join(d.cfg.Warnings, "\n")
		r.Fix = "see the warnings above"
	}
	return r
}

// loadProvider loads the AWS SDK's configuration as the agent does, and
// notes whether its chain ends at IMDS (the instance role).
func (d *diagnosis) loadProvider(ctx context.Context) {
	if d.provider != nil || d.providerErr != nil {
		return
	}
	d.aws, d.providerErr = login.LoadAWS(ctx, d.cfg.Auth)
	if d.providerErr == nil {
		d.provider = d.aws.Credentials
		d.fromIMDS = aws.IsCredentialsProvider(d.aws.Base, (*ec2rolecreds.Provider)(nil))
	}
	d.imdsEndpoint = imdsEndpoint()
}

// retrieve gets the credentials once, within budget. With assume_role_arn
// it also notes the credentials the role was assumed with: the SDK's chain
// has them cached by then, so this asks no source again.
func (d *diagnosis) retrieve(ctx context.Context, budget time.Duration) {
	if d.credsDone {
		return
	}
	d.credsDone = true
	if d.provider == nil {
		d.credsErr = d.providerErr
		return
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	c, err := d.provider.Retrieve(ctx)
	if d.aws.AssumeRole != nil {
		if b, err := d.aws.Base.Retrieve(ctx); err == nil {
			d.baseCreds = &b
		}
	}
	if err != nil {
		d.credsErr = err
		return
	}
	d.creds = &c
}

// imdsEndpoint is where the AWS SDK looks for IMDS.
func imdsEndpoint() string {
	if v := os.Getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"); v != "" {
		return strings.TrimRight(v, "/")
	}
	if strings.EqualFold(os.Getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"), "IPv6") {
		return "http://[fd00:ec2::254]"
	}
	return "http://169.254.169.254"
}

// sourceName says where non-IMDS credentials come from, in words.
func (d *diagnosis) sourceName() string {
	if d.creds == nil {
		if d.credsErr != nil {
			return "the AWS SDK's credential chain, which found none"
		}
		return "the AWS SDK's credential chain"
	}
	return describeSource(d.creds.Source)
}

// describeSource names a credential source (aws.Credentials.Source, the
// provider's name as the AWS SDK sets it) in words.
func describeSource(src string) string {
	switch {
	case src == "EnvConfigCredentials":
		return "the environment (AWS_ACCESS_KEY_ID)"
	case strings.HasPrefix(src, "SharedConfigCredentials"):
		return "a shared config profile's static keys (" + src + ")"
	case src == stscreds.WebIdentityProviderName:
		return "web identity (sts:AssumeRoleWithWebIdentity with AWS_WEB_IDENTITY_TOKEN_FILE or a profile's web_identity_token_file)"
	case src == stscreds.ProviderName:
		return "an assumed role (sts:AssumeRole: a profile's role_arn, or assume_role_arn)"
	case src == ssocreds.ProviderName:
		return "IAM Identity Center (a profile's SSO settings and its cached token)"
	case src == processcreds.ProviderName:
		return "a profile's credential_process"
	case src == ec2rolecreds.ProviderName:
		return "the instance role, through IMDS"
	case src == endpointcreds.ProviderName:
		return "the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_*)"
	case src == logincreds.ProviderName:
		return "an aws login session (a profile's login_session)"
	}
	return src
}

func (d *diagnosis) checkIMDS(ctx context.Context) Result {
	d.loadProvider(ctx)
	if d.providerErr != nil {
		return failed(failure.Credentials, d.providerErr.Error(), "fix the AWS configuration named above (AWS_PROFILE, AWS_CONFIG_FILE, AWS_* variables)")
	}
	if !d.fromIMDS {
		d.retrieve(ctx, d.o.Timeout)
		return skipped("credentials come from " + d.sourceName())
	}
	if strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		return failed(failure.Credentials, "AWS_EC2_METADATA_DISABLED=true, and no other credentials are configured",
			"unset AWS_EC2_METADATA_DISABLED on an EC2 instance, or give credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile")
	}
	u, err := url.Parse(d.imdsEndpoint)
	if err != nil || u.Host == "" {
		return failed(failure.Credentials, fmt.Sprintf("IMDS endpoint %q is not a URL", d.imdsEndpoint), "fix AWS_EC2_METADATA_SERVICE_ENDPOINT, or unset it")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	conn, err := (&net.Dialer{Timeout: d.o.IMDSTimeout}).DialContext(ctx, "tcp", host)
	if err != nil {
		r := failed(failure.Credentials, fmt.Sprintf("cannot connect to IMDS at %s: %v", d.imdsEndpoint, err), "")
		if isTimeout(err) {
			r.Fix = "IMDS is not reachable from here: not an EC2 instance, or a firewall or network namespace blocks the link-local address; off EC2, give credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile"
		} else {
			r.Fix = "nothing listens there: on EC2, enable the metadata service (aws ec2 modify-instance-metadata-options --http-endpoint enabled); check AWS_EC2_METADATA_SERVICE_ENDPOINT; off EC2, give credentials through the environment or a profile"
		}
		r.Details = map[string]any{"endpoint": d.imdsEndpoint}
		return r
	}
	_ = conn.Close()
	d.imdsUp = true
	return Result{Status: Pass, Saw: "connected to " + d.imdsEndpoint, Details: map[string]any{"endpoint": d.imdsEndpoint}}
}

func (d *diagnosis) checkIMDSToken(ctx context.Context) Result {
	if d.providerErr != nil {
		return skipped("the AWS configuration does not load (see imds)")
	}
	if !d.fromIMDS {
		return skipped("credentials come from " + d.sourceName())
	}
	if !d.imdsUp {
		return skipped("IMDS is not reachable (see imds)")
	}
	client := imds.New(imds.Options{
		Endpoint:       d.imdsEndpoint,
		EnableFallback: aws.FalseTernary,
		Retryer:        aws.NopRetryer{},
		HTTPClient:     &http.Client{Timeout: d.o.IMDSTimeout, Transport: &http.Transport{Proxy: nil}},
	})
	ctx2, cancel := context.WithTimeout(ctx, d.o.IMDSTimeout)
	defer cancel()
	out, err := client.GetMetadata(ctx2, &imds.GetMetadataInput{Path: "iam/security-credentials/"})
	if err == nil {
		b, _ := io.ReadAll(io.LimitReader(out.Content, 1<<16))
		_ = out.Content.Close()
		d.imdsRoles = strings.Fields(string(b))
		if len(d.imdsRoles) > 0 {
			d.imdsCreds = readIMDSCredentialInfo(ctx2, client, d.imdsRoles[0])
		}
	}
	if err == nil || !strings.Contains(err.Error(), "failed to get API token") {
		d.imdsTokenOK = true
		d.imdsRolesErr = err
		return Result{Status: Pass, Saw: "IMDSv2 session token obtained (PUT /latest/api/token)"}
	}
	saw := fmt.Sprintf("the IMDSv2 token request (PUT %s/latest/api/token) failed: %v", d.imdsEndpoint, err)
	fix := "check the instance's metadata options: aws ec2 describe-instances --query 'Reservations[].Instances[].MetadataOptions'"
	status := httpStatus(err)
	switch {
	case isTimeout(err):
		saw = fmt.Sprintf("the IMDSv2 token request (PUT %s/latest/api/token) got no answer within %v, though the connection opened", d.imdsEndpoint, d.o.IMDSTimeout)
		fix = "the token's answer is dropped after one network hop: inside a container (docker bridge, pod network) raise the hop limit: " +
			"aws ec2 modify-instance-metadata-options --instance-id <id> --http-put-response-hop-limit 2 (or use host networking)"
	case status == http.StatusForbidden:
		fix = "IMDS refused a token (HTTP 403): the metadata service or its token endpoint is disabled for this instance; enable it with aws ec2 modify-instance-metadata-options --http-endpoint enabled"
	}
	if d.cfg.Auth.IMDSv2Only {
		return failed(failure.Credentials, saw+"\nimds_v2_only is set, so there is no IMDSv1 fallback", fix)
	}
	d.retrieve(ctx, 2*d.o.IMDSTimeout)
	if d.creds != nil {
		return Result{Status: Warn, Saw: saw + "\nthe AWS SDK fell back to IMDSv1 and got credentials: that works only while the instance allows IMDSv1 (http-tokens optional), and every refresh first waits for the token request to time out", Fix: fix}
	}
	return failed(failure.Credentials, saw, fix)
}

func (d *diagnosis) checkCredentials(ctx context.Context) Result {
	if d.fromIMDS {
		switch {
		case !d.imdsUp:
			return failed(failure.Credentials, "no credentials: IMDS is not reachable (see imds)", "see imds")
		case !d.imdsTokenOK && d.cfg.Auth.IMDSv2Only:
			return failed(failure.Credentials, "no credentials: IMDS gave no session token, and imds_v2_only forbids IMDSv1 (see imds-token)", "see imds-token")
		case d.imdsTokenOK && httpStatus(d.imdsRolesErr) == http.StatusNotFound:
			return failed(failure.Credentials, "IMDS has no IAM role for this instance (GET iam/security-credentials/ answered 404): no instance profile is attached",
				"attach an instance profile whose role Vault binds: aws ec2 associate-iam-instance-profile --instance-id <id> --iam-instance-profile Name=<profile>")
		}
	}
	if info := d.imdsCreds; info != nil && info.Code != "" && info.Code != "Success" {
		return failed(failure.Credentials, fmt.Sprintf("IMDS has no credentials for the instance role %s: %s %s", d.imdsRoles[0], info.Code, info.Message),
			"check the role's trust policy: it must let ec2.amazonaws.com call sts:AssumeRole; then re-associate the instance profile")
	}
	d.retrieve(ctx, d.o.Timeout)
	if d.credsErr != nil {
		fix := "check the instance profile (aws ec2 describe-iam-instance-profile-associations), or the AWS_* environment / profile"
		switch {
		case !d.fromIMDS:
			fix = "check the credentials of " + d.sourceName()
		case !d.imdsTokenOK:
			fix = "see imds-token: without a session token, and with IMDSv1 not answering either, there are no instance credentials"
		}
		return failed(failure.Credentials, "no AWS credentials: "+d.credsErr.Error(), fix)
	}
	c := d.creds
	det := map[string]any{"source": c.Source, "access_key_id": maskKey(c.AccessKeyID), "session_token": c.SessionToken != ""}
	saw := fmt.Sprintf("from %s: access key %s", describeSource(c.Source), maskKey(c.AccessKeyID))
	var base string // with assume_role_arn: what the role is assumed with
	if r := d.aws.AssumeRole; r != nil {
		saw = fmt.Sprintf("from role %s (assume_role_arn), session %s, assumed by the AWS SDK's STS client at %s (region %s; AWS_REGION and AWS_ENDPOINT_URL_STS set these, sts_region and sts_endpoint do not): access key %s",
			r.ARN, r.SessionName, r.Endpoint, r.Region, maskKey(c.AccessKeyID))
		det["assume_role_arn"], det["sts_client_region"], det["sts_client_endpoint"] = r.ARN, r.Region, r.Endpoint
		if b := d.baseCreds; b != nil {
			base = fmt.Sprintf("\nassumed with credentials from %s: access key %s", describeSource(b.Source), maskKey(b.AccessKeyID))
			det["base_source"] = b.Source
		}
	}
	if len(d.imdsRoles) > 0 {
		det["instance_role"] = strings.Join(d.imdsRoles, " ")
		if base != "" {
			base += ", instance role " + strings.Join(d.imdsRoles, " ")
		} else {
			saw += ", instance role " + strings.Join(d.imdsRoles, " ")
		}
	}
	expires := c.Expires
	if info := d.imdsCreds; info != nil && !info.Expiration.IsZero() && d.aws.AssumeRole == nil {
		expires = info.Expiration // the SDK caps its own view at an hour, to refresh early
	}
	if c.CanExpire {
		det["expires"] = expires.UTC().Format(time.RFC3339)
		left := expires.Sub(d.now()).Round(time.Second)
		saw += fmt.Sprintf(", expires %s (in %v)", expires.UTC().Format(time.RFC3339), left)
		if left <= 0 {
			return failed(failure.Credentials, saw+": already expired", "the credential source hands out expired credentials: check the clock, and the source")
		}
	} else {
		saw += ", long-term (no expiry)"
	}
	if c.SessionToken != "" {
		saw += ", with a session token"
	}
	saw += base
	return Result{Status: Pass, Saw: saw, Details: det}
}

// maskKey shows an access key ID's type prefix and last four characters.
func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:4] + "..." + k[len(k)-4:]
}

// imdsCredentialInfo is the non-secret part of IMDS's credentials document.
type imdsCredentialInfo struct {
	Code        string    `json:"Code"`
	Message     string    `json:"Message"`
	LastUpdated time.Time `json:"LastUpdated"`
	Expiration  time.Time `json:"Expiration"`
}

// readIMDSCredentialInfo reads the instance role's credentials document and
// keeps only its status and times: the keys are decoded into nothing.
func readIMDSCredentialInfo(ctx context.Context, client *imds.Client, role string) *imdsCredentialInfo {
	out, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: "iam/security-credentials/" + role})
	if err != nil {
		return nil
	}
	defer out.Content.Close()
	var info imdsCredentialInfo
	if err := json.NewDecoder(io.LimitReader(out.Content, 1<<16)).Decode(&info); err != nil {
		return nil
	}
	return &info
}

// signedRequest is the GetCallerIdentity request a login carries, decoded.
type signedRequest struct {
	url           *url.URL
	body          string
	header        http.Header
	scope         string // date/region/service
	region        string
	signedHeaders []string
}

// decodeLoginData undoes the login body's base64 layers.
func decodeLoginData(data map[string]any) (*signedRequest, error) {
	str := func(k string) (string, error) {
		s, _ := data[k].(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", fmt.Errorf("login field %s: %w", k, err)
		}
		return string(b), nil
	}
	rawURL, err := str("iam_request_url")
	if err != nil {
		return nil, err
	}
	body, err := str("iam_request_body")
	if err != nil {
		return nil, err
	}
	hdr, err := str("iam_request_headers")
	if err != nil {
		return nil, err
	}
	s := &signedRequest{body: body}
	if s.url, err = url.Parse(rawURL); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(hdr), &s.header); err != nil {
		return nil, fmt.Errorf("login field iam_request_headers: %w", err)
	}
	if m := reAuthorization().FindStringSubmatch(s.header.Get("Authorization")); m != nil {
		s.scope = m[1] + "/" + m[2] + "/" + m[3]
		s.region = m[2]
		s.signedHeaders = strings.Split(m[4], ";")
	}
	return s, nil
}

// reAuthorization takes a SigV4 Authorization header's scope (date, region,
// service) and signed headers; the key ID and the signature are left alone.
// It is compiled when first needed: the daemon, which links this package,
// never runs diagnose.
var reAuthorization = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`Credential=[^/]+/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*SignedHeaders=([^,]+)`)
})

// callerIdentity is GetCallerIdentity's answer.
type callerIdentity struct {
	ARN     string `xml:"GetCallerIdentityResult>Arn"`
	UserID  string `xml:"GetCallerIdentityResult>UserId"`
	Account string `xml:"GetCallerIdentityResult>Account"`
}

// awsError is the query APIs' error document.
type awsError struct {
	Code    string `xml:"Error>Code"`
	Message string `xml:"Error>Message"`
}

// send posts req to where it is signed for, or to connect (scheme and host)
// with the signed Host kept.
func (d *diagnosis) send(ctx context.Context, req *http.Request, connect string) (int, []byte, error) {
	if connect != "" {
		cu, err := url.Parse(connect)
		if err != nil || cu.Host == "" {
			return 0, nil, fmt.Errorf("endpoint override %q is not a URL with a host", connect)
		}
		req.Host = req.URL.Host
		req.URL.Scheme, req.URL.Host = cu.Scheme, cu.Host
	}
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	resp, err := d.http.Do(req.WithContext(ctx))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

func (d *diagnosis) checkIdentity(ctx context.Context) Result {
	if d.creds == nil {
		return skipped("no AWS credentials (see credentials)")
	}
	a := d.cfg.Auth
	data, err := login.IAMLoginData(ctx, *d.creds, login.SigningTarget{Endpoint: a.STSEndpoint, Region: a.STSRegion, HeaderValue: a.HeaderValue}, a.Role, d.now())
	if err != nil {
		return failed(failure.Config, "cannot sign GetCallerIdentity: "+err.Error(), "fix auth.sts_endpoint / auth.sts_region")
	}
	if d.signed, err = decodeLoginData(data); err != nil {
		return failed(failure.Runtime, "cannot read back the signed login request: "+err.Error(), "")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.signed.url.String(), strings.NewReader(d.signed.body))
	if err != nil {
		return failed(failure.Config, err.Error(), "fix auth.sts_endpoint")
	}
	for k, v := range d.signed.header {
		if !strings.EqualFold(k, "Content-Length") && !strings.EqualFold(k, "Host") {
			req.Header[k] = v
		}
	}
	where := d.signed.url.String()
	if d.o.STSEndpoint != "" {
		where += " (sent to " + d.o.STSEndpoint + ")"
	}
	status, body, err := d.send(ctx, req, d.o.STSEndpoint)
	if err != nil {
		return Result{Status: Warn,
			Saw: fmt.Sprintf("could not reach STS at %s: %v\nthe agent never calls STS itself (Vault forwards the signed request), so this only means diagnose cannot see the identity from here", where, err),
			Fix: "to see it, let this host reach the STS endpoint, or point --aws-sts-endpoint at one it can reach"}
	}
	if status != http.StatusOK {
		var ae awsError
		_ = xml.Unmarshal(body, &ae)
		msg := strings.TrimSpace(ae.Code + ": " + ae.Message)
		if ae.Code == "" {
			msg = strings.TrimSpace(string(body))
		}
		r := login.Diagnose(http.StatusBadRequest, []string{fmt.Sprintf("received error code %d from STS: %s", status, msg)}, a.Mount, a.Role, login.SigningTarget{Endpoint: a.STSEndpoint, Region: a.STSRegion})
		saw := fmt.Sprintf("STS at %s refused the request signed for region %s (HTTP %d): %s", where, d.signed.region, status, msg)
		fix := r.Fix
		if r.Cause != "" {
			saw += "\ncause: " + r.Cause
		}
		if fix == "" {
			fix = "the login will fail the same way when Vault forwards this request: fix the credentials or the signing region/endpoint"
		}
		return failed(failure.Refused, saw, fix)
	}
	var ci callerIdentity
	if err := xml.Unmarshal(body, &ci); err != nil || ci.ARN == "" {
		return Result{Status: Warn, Saw: fmt.Sprintf("STS at %s answered something other than a GetCallerIdentityResponse: %.200s", where, body)}
	}
	d.caller = &ci
	p, err := ParsePrincipal(ci.ARN)
	if err != nil {
		return failed(failure.Refused, fmt.Sprintf("caller %s: %v", ci.ARN, err), "Vault cannot log in this kind of principal: use an IAM role or user")
	}
	d.principal = p
	derived := login.DeriveRoleARN(ci.ARN)
	saw := fmt.Sprintf("caller %s (account %s, unique ID %s)", ci.ARN, ci.Account, uniqueID(ci.UserID))
	if derived != ci.ARN {
		saw += "\nVault derives the role ARN " + derived
	}
	return Result{Status: Pass, Saw: saw, Details: map[string]any{
		"arn": ci.ARN, "account": ci.Account, "user_id": ci.UserID, "derived_arn": derived, "canonical_arn": p.Canonical(),
	}}
}

// uniqueID is a GetCallerIdentity UserId up to the first ':'.
func uniqueID(userID string) string { return strings.SplitN(userID, ":", 2)[0] }

// iamEntity is the part of GetRole's and GetUser's answers used here.
type iamEntity struct {
	Path string `xml:"Path"`
	ID   string `xml:"RoleId"`
	UID  string `xml:"UserId"`
	ARN  string `xml:"Arn"`
}

func (d *diagnosis) checkFullARN(ctx context.Context) Result {
	if d.caller == nil {
		return skipped("the caller identity is unknown (see identity)")
	}
	p := d.principal
	var action, param, typ string
	switch p.Type {
	case "assumed-role", "role":
		action, param, typ = "GetRole", "RoleName", "role"
	case "user":
		action, param, typ = "GetUser", "UserName", "user"
	default:
		return skipped("Vault looks up no full ARN for a " + p.Type)
	}
	endpoint, region := awsname.IAMEndpoint(p.Partition)
	form := url.Values{"Action": {action}, param: {p.Name}, "Version": {"2010-05-08"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form))
	if err != nil {
		return failed(failure.Runtime, err.Error(), "")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(form))
	if err := v4.NewSigner().SignHTTP(ctx, *d.creds, req, hex.EncodeToString(sum[:]), "iam", region, d.now().UTC()); err != nil {
		return failed(failure.Runtime, "cannot sign iam:"+action+": "+err.Error(), "")
	}
	where := endpoint
	if d.o.IAMEndpoint != "" {
		where += " (sent to " + d.o.IAMEndpoint + ")"
	}
	status, body, err := d.send(ctx, req, d.o.IAMEndpoint)
	if err != nil {
		return Result{Status: Warn,
			Saw: fmt.Sprintf("could not reach IAM at %s: %v; the IAM path of %s (which Vault's wildcard patterns see) is unknown", where, err, p.Canonical()),
			Fix: "let this host reach IAM, or point --aws-iam-endpoint at an endpoint it can reach"}
	}
	if status != http.StatusOK {
		var ae awsError
		_ = xml.Unmarshal(body, &ae)
		r := Result{Status: Warn,
			Saw: fmt.Sprintf("iam:%s %s at %s failed (HTTP %d): %s: %s; the IAM path (which Vault's wildcard patterns see) is unknown", action, p.Name, where, status, ae.Code, ae.Message)}
		if ae.Code == "AccessDenied" {
			r.Fix = fmt.Sprintf("to let diagnose see the path, allow the instance role iam:%s on %s (Vault's own lookup uses Vault's credentials and does not need this)", action, p.Canonical())
		}
		return r
	}
	var doc struct {
		Role iamEntity `xml:"GetRoleResult>Role"`
		User iamEntity `xml:"GetUserResult>User"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return Result{Status: Warn, Saw: fmt.Sprintf("iam:%s answered something unreadable: %v", action, err)}
	}
	e := doc.Role
	if typ == "user" {
		e = doc.User
		e.ID = e.UID
	}
	if e.ARN == "" {
		return Result{Status: Warn, Saw: fmt.Sprintf("iam:%s answered without an Arn", action)}
	}
	d.fullARN = e.ARN
	det := map[string]any{"full_arn": e.ARN, "path": e.Path, "unique_id": e.ID}
	if e.Path == "" || e.Path == "/" {
		return Result{Status: Pass, Saw: fmt.Sprintf("full ARN %s (no IAM path)", e.ARN), Details: det}
	}
	return Result{Status: Warn, Details: det,
		Saw: fmt.Sprintf("full ARN %s: the %s has the IAM path %s\nVault matches wildcard patterns against this full ARN, so arn:%s:iam::%s:%s/%s* does not match it",
			e.ARN, typ, e.Path, p.Partition, p.Account, typ, p.Name),
		Fix: fmt.Sprintf("bind %s* (or %s itself) in the Vault role; exact patterns resolved to unique IDs are not affected by the path", e.ARN, e.ARN)}
}

func (d *diagnosis) checkSigning(context.Context) Result {
	a := d.cfg.Auth
	u, _ := url.Parse(strings.TrimRight(a.STSEndpoint, "/") + "/")
	header := "no X-Vault-AWS-IAM-Server-ID header (fine only if the mount's config/client sets no iam_server_id_header_value)"
	if a.HeaderValue != "" {
		header = fmt.Sprintf("%s %q", login.ServerIDHeader, a.HeaderValue)
	}
	det := map[string]any{"url": u.String(), "host": u.Host, "region": a.STSRegion, "header_value": a.HeaderValue}
	saw := fmt.Sprintf("POST %s (Host %s), signed for region %s, %s", u, u.Host, a.STSRegion, header)
	if s := d.signed; s != nil {
		saw += fmt.Sprintf("\ncredential scope %s, signed headers %s", s.scope, strings.Join(s.signedHeaders, ";"))
		det["scope"], det["signed_headers"] = s.scope, s.signedHeaders
	}
	return Result{Status: Pass, Saw: saw, Details: det}
}

// isTimeout says whether err is a timeout of some layer.
func isTimeout(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout exceeded") || strings.Contains(err.Error(), "deadline exceeded")
}

// httpStatus is the HTTP status an SDK error carries, or 0.
func httpStatus(err error) int {
	var se interface{ HTTPStatusCode() int }
	if err != nil && errors.As(err, &se) {
		return se.HTTPStatusCode()
	}
	return 0
}
