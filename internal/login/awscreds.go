package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/xauth-agent/xauth-agent/internal/failure"
)

// The environment variables of the credential chain: the AWS SDK's names.
const (
	envAccessKeyID     = "AWS_ACCESS_KEY_ID"
	envAccessKey       = "AWS_ACCESS_KEY" // the SDK's alias of AWS_ACCESS_KEY_ID
	envSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	envSecretKey       = "AWS_SECRET_KEY" // the SDK's alias of AWS_SECRET_ACCESS_KEY
	envSessionToken    = "AWS_SESSION_TOKEN"
	envAccountID       = "AWS_ACCOUNT_ID"

	envProfile         = "AWS_PROFILE"
	envDefaultProfile  = "AWS_DEFAULT_PROFILE"
	envCredentialsFile = "AWS_SHARED_CREDENTIALS_FILE"
	envConfigFile      = "AWS_CONFIG_FILE"

	envWebIdentityTokenFile = "AWS_WEB_IDENTITY_TOKEN_FILE"
	envRoleARN              = "AWS_ROLE_ARN"

	envContainerRelativeURI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
	envContainerFullURI     = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	envContainerToken       = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
	envContainerTokenFile   = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"

	envIMDSEndpoint     = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
	envIMDSEndpointMode = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"
	envIMDSV1Disabled   = "AWS_EC2_METADATA_V1_DISABLED"
)

// Profile keys, as the shared files spell them (the reader lowers their case).
const (
	keyAccessKeyID      = "aws_access_key_id"
	keySecretAccessKey  = "aws_secret_access_key"
	keySessionToken     = "aws_session_token"
	keyAccountID        = "aws_account_id"
	keyIMDSEndpoint     = "ec2_metadata_service_endpoint"
	keyIMDSEndpointMode = "ec2_metadata_service_endpoint_mode"
	keyIMDSV1Disabled   = "ec2_metadata_v1_disabled"
)

// Credential sources, in aws.Credentials.Source: the SDK's names, which
// diagnose reads.
const (
	sourceEnv           = "EnvConfigCredentials"
	sourceProfilePrefix = "SharedConfigCredentials: " // + the file
)

// The container credentials endpoints, as the SDK knows them: the ECS
// agent's (the base of AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), and the
// hosts a plain-http AWS_CONTAINER_CREDENTIALS_FULL_URI may name besides a
// loopback address (ECS, EKS Pod Identity over IPv4 and IPv6).
var (
	ecsEndpoint    = "http://169.254.170.2"
	containerHosts = []net.IP{net.IPv4(169, 254, 170, 2), net.IPv4(169, 254, 170, 23), net.ParseIP("fd00:ec2::23")}
)

// containerExpiryWindow is how long before they expire container
// credentials are refreshed (the SDK's window).
const containerExpiryWindow = 5 * time.Minute

// Bounds on what is read from a shared file and a container token file.
const (
	maxSharedFile = 1 << 20
	maxTokenFile  = 64 << 10
)

// AWSCredentials returns the AWS credentials the iam login signs with: the
// first of these sources that is configured, in the AWS SDK's order.
//
//  1. The environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their
//     aliases AWS_ACCESS_KEY and AWS_SECRET_KEY), with AWS_SESSION_TOKEN.
//  2. Web identity (AWS_WEB_IDENTITY_TOKEN_FILE): not supported, an error.
//  3. The static keys of the shared profile: AWS_PROFILE, else
//     AWS_DEFAULT_PROFILE, else default, in AWS_SHARED_CREDENTIALS_FILE
//     (~/.aws/credentials) and AWS_CONFIG_FILE (~/.aws/config). A profile
//     that would assume a role, run a process or use SSO is an error.
//  4. The container credentials endpoint (ECS, EKS Pod Identity):
//     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, with
//     AWS_CONTAINER_AUTHORIZATION_TOKEN or _TOKEN_FILE.
//  5. The instance role, through IMDS (see imdsOptions). With imdsV2Only
//     there is no IMDSv1 fallback.
//
// As in the SDK, the source is chosen here, once, from the environment and
// the files; only the container endpoint and IMDS are asked later, on
// Retrieve, through an aws.CredentialsCache. The SDK's retryer owns their
// retries (bounded, local); the lifecycle owns retries against Vault. An
// error wraps failure.Credentials. No source here calls a regional AWS API (web
// identity, which would call STS, is not supported), so there is no region.
func AWSCredentials(ctx context.Context, imdsV2Only bool) (aws.CredentialsProvider, error) {
	if c, ok, err := envCredentials(); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: c}), nil
	}
	if f := os.Getenv(envWebIdentityTokenFile); f != "" {
		return nil, webIdentityError(f)
	}
	prof, err := loadSharedProfile()
	if err != nil {
		return nil, err
	}
	if c, ok, err := prof.credentials(); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: c}), nil
	}
	if p, ok, err := containerCredentials(ctx); err != nil || ok {
		return p, err
	}
	opts, err := imdsOptions(prof, imdsV2Only)
	if err != nil {
		return nil, err
	}
	client := imds.New(opts)
	return aws.NewCredentialsCache(ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = client })), nil
}

// chainError is a credential source configured in a way the agent cannot
// use: what is wrong, and what to do. It wraps failure.Credentials.
func chainError(fix, format string, args ...any) error {
	return fmt.Errorf("%w: %s\nfix: %s", failure.Credentials, fmt.Sprintf(format, args...), fix)
}

// firstEnv is the first of keys that is set (not empty), and its value.
func firstEnv(keys ...string) (value, key string) {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v, k
		}
	}
	return "", ""
}

// envCredentials reads the static keys of the environment. One key of the
// pair without the other is an error (the SDK would ignore both).
func envCredentials() (aws.Credentials, bool, error) {
	id, idKey := firstEnv(envAccessKeyID, envAccessKey)
	secret, secretKey := firstEnv(envSecretAccessKey, envSecretKey)
	switch {
	case id == "" && secret == "":
		return aws.Credentials{}, false, nil
	case secret == "":
		return aws.Credentials{}, false, chainError(
			fmt.Sprintf("export %s too, or unset %s to use a profile or the instance role", envSecretAccessKey, idKey),
			"%s is set but %s (or its alias %s) is not", idKey, envSecretAccessKey, envSecretKey)
	case id == "":
		return aws.Credentials{}, false, chainError(
			fmt.Sprintf("export %s too, or unset %s to use a profile or the instance role", envAccessKeyID, secretKey),
			"%s is set but %s (or its alias %s) is not", secretKey, envAccessKeyID, envAccessKey)
	}
	return aws.Credentials{
		AccessKeyID: id, SecretAccessKey: secret, SessionToken: os.Getenv(envSessionToken),
		AccountID: os.Getenv(envAccountID), Source: sourceEnv,
	}, true, nil
}

func webIdentityError(tokenFile string) error {
	what := envWebIdentityTokenFile + "=" + tokenFile + " is set"
	if arn := os.Getenv(envRoleARN); arn != "" {
		what = envWebIdentityTokenFile + "=" + tokenFile + " and " + envRoleARN + "=" + arn + " are set"
	}
	return chainError(
		"on EC2, use the instance profile: unset "+envWebIdentityTokenFile+" and "+envRoleARN+"; on EKS, use EKS Pod Identity "+
			"(the agent reads "+envContainerFullURI+" and "+envContainerTokenFile+"); or export static credentials ("+
			envAccessKeyID+", "+envSecretAccessKey+", "+envSessionToken+")",
		"%s (web identity, as EKS IAM roles for service accounts use): xauth-agent does not support web identity credentials", what)
}

// sharedProfile is one profile of the shared credentials and config files.
type sharedProfile struct {
	name  string
	named bool          // by AWS_PROFILE: then it must be in a file
	files [2]sharedFile // the credentials file, then the config file: a key in the first wins
}

// sharedFile is a shared file and the keys the profile has in it.
type sharedFile struct {
	path string
	keys map[string]string // nil when the file has no such profile
}

// lookup is the value of key in the profile, and the file it is in.
func (p *sharedProfile) lookup(key string) (value, path string) {
	for _, f := range p.files {
		if v, ok := f.keys[key]; ok {
			return v, f.path
		}
	}
	return "", ""
}

// loadSharedProfile reads the profile named by AWS_PROFILE (else
// AWS_DEFAULT_PROFILE, else default) from the shared credentials file and
// the shared config file, where it is [NAME] and [profile NAME] (or
// [default]). A file that does not exist has no profiles. A file that
// cannot be read is an error when it or the profile was named in the
// environment; otherwise it is skipped, as the SDK skips it. A profile
// named by AWS_PROFILE that neither file has is an error (as in the SDK;
// a missing AWS_DEFAULT_PROFILE is not).
func loadSharedProfile() (*sharedProfile, error) {
	p := &sharedProfile{name: "default"}
	if v := os.Getenv(envProfile); v != "" {
		p.name, p.named = v, true
	} else if v := os.Getenv(envDefaultProfile); v != "" {
		p.name = v
	}
	for i, f := range []struct{ env, base string }{{envCredentialsFile, "credentials"}, {envConfigFile, "config"}} {
		path := os.Getenv(f.env)
		fromEnv := path != ""
		if !fromEnv {
			home, err := os.UserHomeDir()
			if err != nil {
				p.files[i].path = "~/.aws/" + f.base + " (no home directory)"
				continue
			}
			path = filepath.Join(home, ".aws", f.base)
		}
		p.files[i].path = path
		sections, err := readSharedFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil && (fromEnv || p.named):
			named := ""
			if fromEnv {
				named = " (" + f.env + ")"
			}
			return nil, chainError(
				fmt.Sprintf("make it a file the agent's user can read, or point %s at one", f.env),
				"aws shared %s file %s%s: %v", f.base, path, named, err)
		case err != nil:
			continue
		}
		if i == 0 {
			// The credentials file has no "profile " prefix; the SDK drops
			// sections that have one.
			if !strings.HasPrefix(p.name, "profile ") {
				p.files[i].keys = sections[p.name]
			}
		} else if s, ok := sections["profile "+p.name]; ok {
			p.files[i].keys = s
		} else if strings.EqualFold(p.name, "default") {
			p.files[i].keys = sections[p.name]
		}
	}
	if p.named && p.files[0].keys == nil && p.files[1].keys == nil {
		return nil, chainError(
			fmt.Sprintf("add [%s] to %s or [profile %s] to %s, point %s or %s at the files that have it, or unset %s",
				p.name, p.files[0].path, p.name, p.files[1].path, envCredentialsFile, envConfigFile, envProfile),
			"aws profile %q (%s) is in neither %s nor %s", p.name, envProfile, p.files[0].path, p.files[1].path)
	}
	return p, nil
}

// readSharedFile reads and parses one shared file.
func readSharedFile(path string) (map[string]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSharedFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSharedFile {
		return nil, fmt.Errorf("larger than %d bytes: not an AWS shared file", maxSharedFile)
	}
	return parseINI(string(b)), nil
}

// unresolvedKeys are the profile keys of the credential sources the agent
// does not resolve, and what they ask for. The first four always ask for a
// role to be assumed, so a profile with any of them is an error; the others
// only when the profile has no static keys, which the SDK uses first.
var unresolvedKeys = []struct {
	key, what      string
	evenWithStatic bool
}{
	{"role_arn", "assumes an IAM role", true},
	{"source_profile", "assumes an IAM role with another profile's credentials", true},
	{"credential_source", "assumes an IAM role with credentials from another source", true},
	{"web_identity_token_file", "assumes an IAM role with a web identity token", true},
	{"credential_process", "runs a process for credentials", false},
	{"sso_session", "uses IAM Identity Center (SSO)", false},
	{"sso_start_url", "uses IAM Identity Center (SSO)", false},
	{"sso_region", "uses IAM Identity Center (SSO)", false},
	{"sso_account_id", "uses IAM Identity Center (SSO)", false},
	{"sso_role_name", "uses IAM Identity Center (SSO)", false},
	{"login_session", "uses an `aws login` session", false},
}

// credentials returns the profile's static keys. ok is false when the
// profile has none and needs none of the sources in unresolvedKeys.
func (p *sharedProfile) credentials() (aws.Credentials, bool, error) {
	var creds aws.Credentials
	for _, f := range p.files {
		if creds.AccessKeyID != "" {
			break // the first file with keys wins; a later file's leftovers do not matter
		}
		id, secret := f.keys[keyAccessKeyID], f.keys[keySecretAccessKey]
		if (id == "") != (secret == "") {
			has, lacks := keyAccessKeyID, keySecretAccessKey
			if id == "" {
				has, lacks = lacks, has
			}
			return aws.Credentials{}, false, chainError(
				fmt.Sprintf("add %s to profile %q in %s, or remove %s", lacks, p.name, f.path, has),
				"aws profile %q in %s has %s but no %s", p.name, f.path, has, lacks)
		}
		if id != "" {
			// The keys come as a set from one file, the first that has them.
			creds = aws.Credentials{
				AccessKeyID: id, SecretAccessKey: secret, SessionToken: f.keys[keySessionToken],
				AccountID: f.keys[keyAccountID], Source: sourceProfilePrefix + f.path,
			}
		}
	}
	static := creds.AccessKeyID != ""
	for _, u := range unresolvedKeys {
		if static && !u.evenWithStatic {
			continue
		}
		if v, path := p.lookup(u.key); v != "" {
			return aws.Credentials{}, false, p.unresolvedError(u.key, u.what, path)
		}
	}
	return creds, static, nil
}

func (p *sharedProfile) unresolvedError(key, what, path string) error {
	instead := fmt.Sprintf("remove %s from profile %q in %s", key, p.name, path)
	if p.named {
		instead = "unset " + envProfile
	}
	return chainError(
		fmt.Sprintf("on EC2, use the instance profile (%s); elsewhere, give the agent static credentials, "+
			`e.g. eval "$(aws configure export-credentials --profile %s --format env)" before it starts`, instead, p.name),
		"aws profile %q in %s sets %s: it %s, and xauth-agent reads only static keys from a profile (%s, %s, %s)",
		p.name, path, key, what, keyAccessKeyID, keySecretAccessKey, keySessionToken)
}

// containerCredentials is the container credentials endpoint's provider,
// when AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (under the ECS agent's
// address) or AWS_CONTAINER_CREDENTIALS_FULL_URI is set. As in the SDK, a
// full URI over plain http must name a loopback address or a container
// credentials address; the authorization token is
// AWS_CONTAINER_AUTHORIZATION_TOKEN, or AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
// read anew on each retrieval.
func containerCredentials(ctx context.Context) (aws.CredentialsProvider, bool, error) {
	var endpoint string
	if rel := os.Getenv(envContainerRelativeURI); rel != "" {
		// A path under the ECS agent's address, and nothing else: without
		// the check, "@host/x" or ".host/x" would send the token to host.
		if !strings.HasPrefix(rel, "/") {
			return nil, false, chainError(
				fmt.Sprintf("set %s to a path starting with / (the ECS agent sets it so), or unset it", envContainerRelativeURI),
				"%s=%q is not a path: the credentials URI would leave %s", envContainerRelativeURI, rel, ecsEndpoint)
		}
		endpoint = ecsEndpoint + rel
	} else if full := os.Getenv(envContainerFullURI); full != "" {
		if err := checkContainerURI(ctx, full); err != nil {
			return nil, false, err
		}
		endpoint = full
	} else {
		return nil, false, nil
	}
	p := endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
		o.AuthorizationToken = os.Getenv(envContainerToken)
		if path := os.Getenv(envContainerTokenFile); path != "" {
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				return readTokenFile(path)
			})
		}
	})
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = containerExpiryWindow }), true, nil
}

// checkContainerURI refuses a full container credentials URI that would
// send the authorization token in clear text off the host or the
// container credentials addresses.
func checkContainerURI(ctx context.Context, raw string) error {
	fix := fmt.Sprintf("set %s to the container credentials endpoint: https, or http to a loopback address or %s", envContainerFullURI, containerHostList())
	u, err := url.Parse(raw)
	if err != nil {
		return chainError(fix, "%s=%s is not a URL: %v", envContainerFullURI, raw, err)
	}
	host := u.Hostname()
	if host == "" {
		return chainError(fix, "%s=%s names no host", envContainerFullURI, raw)
	}
	if u.Scheme != "http" {
		return nil
	}
	addrs := []string{host}
	if net.ParseIP(host) == nil {
		if addrs, err = net.DefaultResolver.LookupHost(ctx, host); err != nil {
			return chainError(fix, "%s=%s: resolve %s: %v", envContainerFullURI, raw, host, err)
		}
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip == nil || !containerHostAllowed(ip) {
			if a != host {
				a = host + " (" + a + ")"
			}
			return chainError(fix, "%s=%s: plain http is allowed only to a loopback address or %s, not to %s",
				envContainerFullURI, raw, containerHostList(), a)
		}
	}
	return nil
}

func containerHostAllowed(ip net.IP) bool {
	if ip.IsLoopback() {
		return true
	}
	for _, h := range containerHosts {
		if ip.Equal(h) {
			return true
		}
	}
	return false
}

func containerHostList() string {
	s := make([]string, len(containerHosts))
	for i, h := range containerHosts {
		s[i] = h.String()
	}
	return strings.Join(s, ", ")
}

// readTokenFile reads the container authorization token. A line break at
// its end is dropped; the SDK would refuse the token for it.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", envContainerTokenFile, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", envContainerTokenFile, path, err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("%s %s: larger than %d bytes, which no authorization token is: point it at the token file", envContainerTokenFile, path, maxTokenFile)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// imdsOptions are the IMDS client's settings for the profile p. As in the
// SDK, each comes from the environment, else from the profile:
// AWS_EC2_METADATA_SERVICE_ENDPOINT (ec2_metadata_service_endpoint),
// AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE (ec2_metadata_service_endpoint_mode:
// IPv4 or IPv6), AWS_EC2_METADATA_V1_DISABLED (ec2_metadata_v1_disabled:
// true means no IMDSv1 fallback). v2Only turns the fallback off whatever
// they say. imds.New itself honours AWS_EC2_METADATA_DISABLED, and gives
// the client the SDK's standard retryer.
func imdsOptions(p *sharedProfile, v2Only bool) (imds.Options, error) {
	var o imds.Options
	setting := func(env, key string) (value, where string) {
		if v := os.Getenv(env); v != "" {
			return v, env
		}
		v, path := p.lookup(key)
		return v, fmt.Sprintf("%s in aws profile %q in %s", key, p.name, path)
	}
	o.Endpoint, _ = setting(envIMDSEndpoint, keyIMDSEndpoint)
	if v, where := setting(envIMDSEndpointMode, keyIMDSEndpointMode); v != "" {
		if err := o.EndpointMode.SetFromString(v); err != nil {
			return imds.Options{}, chainError("set it to IPv4 or IPv6, or remove it", "%s is %q: the IMDS endpoint mode is IPv4 or IPv6", where, v)
		}
	}
	v, where := setting(envIMDSV1Disabled, keyIMDSV1Disabled)
	switch {
	case v2Only:
		o.EnableFallback = aws.FalseTernary
	case v == "":
	case strings.EqualFold(v, "true"):
		o.EnableFallback = aws.FalseTernary
	case strings.EqualFold(v, "false"):
		o.EnableFallback = aws.TrueTernary
	default:
		return imds.Options{}, chainError("set it to true (no IMDSv1 fallback) or false, or remove it", "%s is %q, not true or false", where, v)
	}
	return o, nil
}

// parseINI reads an AWS shared credentials or config file as the SDK reads
// it, into sections of keys. A [section] line names a section, after a #
// or ; in it is dropped and white space is trimmed; "[profile   x]" is
// "profile x". A key = value line (or key: value, whichever sign comes
// first) sets a key of the current section: the key in lower case, the
// value trimmed, without a comment after " #" or " ;", without quotes that
// match at both ends. An indented line continues the last value on a new
// line, or, when it has a sign itself, sets a key; under a key with an
// empty value it sets a sub-key instead (the s3 = settings), which is not
// kept. Lines that start with # or ;, blank lines, keys before the first
// section and any other lines are ignored. Sections of the same name merge;
// a later key wins.
func parseINI(text string) map[string]map[string]string {
	sections := map[string]map[string]string{}
	var cur map[string]string // the current section
	var last string           // its last key, for the indented lines under it
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimLeft(line, " \t")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, ";") {
			continue
		}
		if name, ok := iniSection(line); ok {
			if sections[name] == nil {
				sections[name] = map[string]string{}
			}
			cur, last = sections[name], ""
			continue
		}
		if cur == nil {
			continue
		}
		if trimmed == line { // not indented
			if k, v, ok := iniSplit(trimRight(cutComment(line))); ok {
				cur[k], last = unquote(v), k
			}
			continue
		}
		k, v, ok := iniSplit(trimmed)
		switch {
		case ok && (last == "" || cur[last] != ""):
			cur[k], last = strings.TrimSpace(cutComment(unquote(v))), k
		case ok: // a sub-key of last
		case last != "" && cur[last] != "":
			cur[last] += "\n" + trimmed
		}
	}
	return sections
}

// iniSection reads a [section] line.
func iniSection(line string) (string, bool) {
	s, _, _ := strings.Cut(line, "#")
	s, _, _ = strings.Cut(s, ";")
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return "", false
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i] + " " + strings.TrimLeft(s[i:], " \t"), true
	}
	return s, true
}

// iniSplit splits a key = value (or key: value) line.
func iniSplit(s string) (key, value string, ok bool) {
	i := strings.IndexAny(s, "=:")
	if i < 0 {
		return "", "", false
	}
	return strings.ToLower(strings.TrimSpace(s[:i])), strings.TrimSpace(s[i+1:]), true
}

// cutComment drops a comment that follows white space.
func cutComment(s string) string {
	for _, c := range []string{" #", " ;", "\t#", "\t;"} {
		s, _, _ = strings.Cut(s, c)
	}
	return s
}

func trimRight(s string) string { return strings.TrimRight(s, " \t") }

// unquote drops quotes that match at both ends.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
