package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/awsname"
)

// validate checks the merged settings, normalises them, and collects warnings.
func (l *loader) validate() {
	l.validateVault()
	l.validateAuth()
	l.validateSinks()
	l.validateHealth()
	if lc := l.cfg.Lifecycle; lc.MaxBackoff < lc.MinBackoff {
		l.fail(fmt.Errorf("lifecycle.max_backoff %v%s is shorter than lifecycle.min_backoff %v%s: raise max_backoff",
			lc.MaxBackoff, l.origin("lifecycle.max_backoff"), lc.MinBackoff, l.origin("lifecycle.min_backoff")))
	}
}

func (l *loader) fail(err error) { l.errs = append(l.errs, err) }

func (l *loader) warn(format string, args ...any) {
	l.cfg.Warnings = append(l.cfg.Warnings, fmt.Sprintf(format, args...))
}

// origin says where a setting was set, as " (config.hcl:3)", or "" for a default.
func (l *loader) origin(key string) string {
	if from, ok := l.from[key]; ok {
		return " (" + from + ")"
	}
	return ""
}

// show names a setting, its value and where it was set, for a message: key "value" (origin).
func (l *loader) show(key, value string) string {
	return fmt.Sprintf("%s %q%s", key, value, l.origin(key))
}

func (l *loader) validateVault() {
	v := &l.cfg.Vault
	if len(v.Addresses) <= 1 && v.Address() == "" {
		l.fail(errors.New("vault address is not set: set vault.address in the config, VAULT_ADDR, or --vault-addr"))
		v.Addresses = nil
	}
	for i, a := range v.Addresses {
		name := "vault.address"
		if len(v.Addresses) > 1 {
			name = fmt.Sprintf("vault.address[%d]", i) // of the file's list
		}
		name = fmt.Sprintf("%s %q%s", name, a, l.origin("vault.address"))
		if _, err := parseHTTPURL(a); err != nil {
			l.fail(fmt.Errorf("%s %w; use one such as \"https://vault.example:8200\"", name, err))
		} else if slices.Contains(v.Addresses[:i], a) {
			l.fail(fmt.Errorf("%s is listed twice: give each Vault address once", name))
		}
	}
	if (v.ClientCert == "") != (v.ClientKey == "") {
		l.fail(errors.New("vault.client_cert and vault.client_key (VAULT_CLIENT_CERT, VAULT_CLIENT_KEY) go together: set both to authenticate to Vault with a TLS client certificate, or neither"))
	}
	if v.TLSSkipVerify {
		l.warn("vault.tls_skip_verify is true%s: the Vault server's certificate is not checked, so anyone on the network path can take the token; trust the server's CA with vault.ca_cert instead",
			l.origin("vault.tls_skip_verify"))
	}
}

func (l *loader) validateAuth() {
	a := &l.cfg.Auth

	mount := a.Mount
	a.Mount = strings.Trim(a.Mount, "/")
	if a.Mount == "" {
		l.fail(fmt.Errorf("%s names no path: set it to the path the aws auth method is enabled at in Vault, such as \"aws\"", l.show("auth.mount", mount)))
	}

	if a.Type != "iam" && a.Type != "ec2" {
		l.fail(fmt.Errorf("%s is not supported: use type = \"iam\" or \"ec2\"", l.show("auth.type", a.Type)))
		return
	}
	// The settings of the other type are refused when set, as the schema says (its only).
	for _, s := range l.schema {
		if from, ok := l.from[s.key]; ok && s.only != "" && s.only != a.Type {
			l.fail(fmt.Errorf("%s (%s) applies only to auth type %q, and the type is %q: remove it, or set auth.type = %q",
				s.key, from, s.only, a.Type, s.only))
		}
	}
	if a.Type == "iam" {
		l.validateSTS()
		l.validateAssumeRole()
	} else {
		l.validateEC2()
	}
}

// validateEC2 fills in and checks the ec2 type's settings.
func (l *loader) validateEC2() {
	a := &l.cfg.Auth
	if a.Signature == "" {
		a.Signature = SignatureRSA2048
	}
	switch a.Signature {
	case SignatureRSA2048, SignaturePKCS7, SignatureIdentity:
	default:
		l.fail(fmt.Errorf("%s is not a signature type: use %q (the default), %q or %q",
			l.show("auth.signature", a.Signature), SignatureRSA2048, SignaturePKCS7, SignatureIdentity))
	}
	if a.NonceFile == "" { // absPath refuses "" when it is set
		stateDir, _ := l.cfg.Lifecycle.Dirs(l.env)
		a.NonceFile = filepath.Join(stateDir, "nonce")
	}
}

// validateSTS checks the iam type's signing region and STS endpoint.
func (l *loader) validateSTS() {
	a := &l.cfg.Auth
	regionOK := awsname.IsRegion(a.STSRegion)
	if !regionOK {
		l.fail(fmt.Errorf("%s is not an AWS region name: use one such as \"us-east-1\"", l.show("auth.sts_region", a.STSRegion)))
	}

	u, err := parseHTTPURL(a.STSEndpoint)
	switch {
	case err != nil:
		l.fail(fmt.Errorf("%s %w; use one such as \"https://sts.us-east-1.amazonaws.com\"", l.show("auth.sts_endpoint", a.STSEndpoint), err))
	case u.RawQuery != "" || u.ForceQuery:
		l.fail(fmt.Errorf("%s has a query: remove the part from \"?\"", l.show("auth.sts_endpoint", a.STSEndpoint)))
	case regionOK:
		l.checkSTSRegion(strings.ToLower(u.Hostname()))
	}
}

// checkSTSRegion checks the signing region against an AWS STS endpoint's host. STS refuses a
// signature scoped to a region other than the endpoint's with "Credential should be scoped to
// a valid region", which Vault passes on as a failed login.
func (l *loader) checkSTSRegion(host string) {
	a := &l.cfg.Auth
	if host == awsname.GlobalSTSHost && a.STSRegion != "us-east-1" {
		l.warn("%s is used with the global STS endpoint %q, which refuses signatures for regions other than us-east-1 (\"Credential should be scoped to a valid region\"): "+
			"this works only if Vault's aws auth has use_sts_region_from_client=true; otherwise set auth.sts_region to \"us-east-1\", "+
			"or set auth.sts_endpoint to \"https://sts.%s.amazonaws.com\" and the same sts_endpoint and sts_region in Vault's aws auth config/client",
			l.show("auth.sts_region", a.STSRegion), a.STSEndpoint, a.STSRegion)
	}
	if region, ok := awsname.STSHostRegion(host); ok && host != awsname.GlobalSTSHost && region != a.STSRegion {
		l.fail(fmt.Errorf("%s does not match the region %q of %s: the request is signed for sts_region and STS refuses a signature scoped to another region; "+
			"set auth.sts_region to %q, or use the STS endpoint of %q",
			l.show("auth.sts_region", a.STSRegion), region, l.show("auth.sts_endpoint", a.STSEndpoint), region, a.STSRegion))
	}
}

// The range of DurationSeconds STS accepts (a role's MaxSessionDuration may lower the top).
const (
	minAssumeRoleDuration = 15 * time.Minute
	maxAssumeRoleDuration = 12 * time.Hour
)

// validateAssumeRole checks the role the iam type assumes, and fills in its default duration.
func (l *loader) validateAssumeRole() {
	r := &l.cfg.Auth.AssumeRole
	if r.ARN == "" {
		for _, key := range []string{"auth.assume_role_external_id", "auth.assume_role_session_name", "auth.assume_role_duration"} {
			if from, ok := l.from[key]; ok {
				l.fail(fmt.Errorf("%s (%s) is set but auth.assume_role_arn is not: set assume_role_arn to the role to assume, or remove %s",
					key, from, strings.TrimPrefix(key, "auth.")))
			}
		}
		return
	}
	if !awsname.IsRoleARN(r.ARN) {
		l.fail(fmt.Errorf("%s is not an IAM role ARN: write it as \"arn:aws:iam::123456789012:role/NAME\" (with the role's path, if it has one, before NAME)",
			l.show("auth.assume_role_arn", r.ARN)))
	}
	if r.ExternalID != "" && !awsname.IsExternalID(r.ExternalID) {
		// The value is not shown: an external ID is not meant to be secret, but it is not
		// meant to be broadcast either.
		l.fail(fmt.Errorf("auth.assume_role_external_id%s is not an external ID STS accepts: 2 to 1224 characters of letters, digits and _+=,.@:/-",
			l.origin("auth.assume_role_external_id")))
	}
	if r.SessionName != "" && !awsname.IsRoleSessionName(r.SessionName) {
		l.fail(fmt.Errorf("%s is not a role session name STS accepts: 2 to 64 characters of letters, digits and _+=,.@-",
			l.show("auth.assume_role_session_name", r.SessionName)))
	}
	if r.Duration == 0 {
		if _, set := l.from["auth.assume_role_duration"]; !set {
			r.Duration = DefaultAssumeRoleDuration
			return
		}
	}
	if r.Duration < minAssumeRoleDuration || r.Duration > maxAssumeRoleDuration {
		l.fail(fmt.Errorf("%s is outside what STS allows: use 15m to 12h (and no longer than the role's maximum session duration)",
			l.show("auth.assume_role_duration", r.Duration.String())))
	}
}

// parseHTTPURL parses s and checks that it is an http or https URL with a host. Its errors
// complete a sentence that starts with the setting's name.
func parseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("is not a URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, errors.New("is not an http:// or https:// URL with a host")
	}
	return u, nil
}

func (l *loader) validateSinks() {
	for i, s := range l.cfg.Sinks {
		if s.Path == "/" {
			l.fail(fmt.Errorf("sink %q (%s) names a directory: give the token file's path, such as \"/run/xauth-agent/token\"", s.Path, l.sinkFrom[i]))
		}
		if s.Mode&0o077 != 0 {
			l.warn("sink %q (%s) has mode %04o, which gives users other than its owner access to the token: use \"0600\" unless they need it",
				s.Path, l.sinkFrom[i], uint32(s.Mode.Perm()))
		}
		l.checkWrapAndOnChange(s, l.sinkFrom[i])
	}
	if s := l.cfg.Socket; s != nil && s.Path == "/" {
		l.fail(fmt.Errorf("sink \"socket\" %q (%s) names a directory: give the socket's path, such as \"/run/xauth-agent/agent.sock\"", s.Path, l.socketFrom))
	}
	l.checkPathsDistinct()
}

// checkWrapAndOnChange checks a file sink's wrap_ttl and on_change settings; from says where
// the sink is defined.
func (l *loader) checkWrapAndOnChange(s FileSink, from string) {
	if s.WrapTTL > 0 && s.WrapTTL < time.Second {
		l.fail(fmt.Errorf("sink %q (%s): wrap_ttl %v is under a second: Vault counts wrapping TTLs in seconds; write it like \"5m\"", s.Path, from, s.WrapTTL))
	}
	if s.WrapTTL > 0 && s.Format == FormatEnv {
		l.fail(fmt.Errorf("sink %q (%s): wrap_ttl with format \"env\": a wrapping token is no VAULT_TOKEN; use format \"token\" (the wrapping token) or \"json\" (Vault's wrap info)", s.Path, from))
	}
	switch {
	case len(s.OnChange) == 0 && (s.OnChangeSplay > 0 || s.OnChangeTimeout > 0):
		l.fail(fmt.Errorf("sink %q (%s): on_change_splay or on_change_timeout without on_change: set on_change to the command to run, or remove them", s.Path, from))
	case len(s.OnChange) == 0:
	case s.OnChange[0] == "":
		l.fail(fmt.Errorf("sink %q (%s): on_change %q starts with an empty command: give the command and its arguments, such as [\"systemctl\", \"reload\", \"app\"]", s.Path, from, s.OnChange))
	default:
		// The command is looked up as it will be run: in PATH unless it holds a slash.
		if _, err := exec.LookPath(s.OnChange[0]); err != nil {
			l.fail(fmt.Errorf("sink %q (%s): on_change command %q: %w; give its absolute path, or install it", s.Path, from, s.OnChange[0], errors.Unwrap(err)))
		}
	}
}

// validateHealth checks health.address: host:port on a loopback IP address, since the
// listener serves the metrics and the readiness without asking who calls.
func (l *loader) validateHealth() {
	addr := l.cfg.Health.Address
	if _, set := l.from["health.address"]; !set && addr == "" {
		return
	}
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	ip := net.ParseIP(host)
	switch {
	case err != nil:
		l.fail(fmt.Errorf("%s is not host:port: write it like \"127.0.0.1:9105\"", l.show("health.address", addr)))
	case ip == nil || !ip.IsLoopback():
		l.fail(fmt.Errorf("%s is not on a loopback IP address: the health listener serves the metrics without asking who calls; use 127.0.0.1 or [::1], and a proxy for scrapers elsewhere", l.show("health.address", addr)))
	case perr != nil || n < 1 || n > 65535:
		l.fail(fmt.Errorf("%s: the port must be a number from 1 to 65535", l.show("health.address", addr)))
	}
}

// pathUse is a file the agent writes, for checkPathsDistinct.
type pathUse struct {
	path string
	what string // `sink "file" (agent.hcl:12)`
}

// checkPathsDistinct refuses two sinks on one file, a file sink on the socket, and a sink on the
// ec2 nonce file: each would overwrite the other, and the daemon would retry the loser forever.
// Paths are compared clean and absolute, with the symlinks of their directories resolved where
// the directories exist, so /var/run/token and /run/token meet when /var/run links to /run.
func (l *loader) checkPathsDistinct() {
	var uses []pathUse
	for i, s := range l.cfg.Sinks {
		uses = append(uses, pathUse{s.Path, fmt.Sprintf("sink \"file\" (%s)", l.sinkFrom[i])})
	}
	if s := l.cfg.Socket; s != nil {
		uses = append(uses, pathUse{s.Path, fmt.Sprintf("sink \"socket\" (%s)", l.socketFrom)})
	}
	if a := l.cfg.Auth; a.Type == "ec2" && a.NonceFile != "" {
		from := "the default"
		if o := l.origin("auth.nonce_file"); o != "" {
			from = strings.Trim(o, " ()")
		}
		uses = append(uses, pathUse{a.NonceFile, fmt.Sprintf("auth.nonce_file (%s)", from)})
	}
	if _, rt := l.cfg.Lifecycle.Dirs(l.env); filepath.IsAbs(rt) {
		uses = append(uses, pathUse{filepath.Join(rt, TokenRecordFile), "the daemon's token record (in lifecycle.runtime_dir" + l.origin("lifecycle.runtime_dir") + ")"})
	}
	seen := map[string]pathUse{}
	for _, u := range uses {
		key := canonicalPath(u.path)
		if prev, ok := seen[key]; ok {
			same := fmt.Sprintf("%q", u.path)
			if prev.path != u.path {
				same = fmt.Sprintf("%q and %q (the same file)", prev.path, u.path)
			}
			l.fail(fmt.Errorf("%s and %s both use %s: each would overwrite the other; give each its own path", prev.what, u.what, same))
			continue
		}
		seen[key] = u
	}
}

// canonicalPath is path cleaned, with the symlinks of its directory resolved when it exists.
func canonicalPath(path string) string {
	path = filepath.Clean(path)
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		return filepath.Join(dir, filepath.Base(path))
	}
	return path
}
