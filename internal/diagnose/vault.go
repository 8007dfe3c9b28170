package diagnose

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/internal/awsname"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/login"
	"github.com/xauth-agent/xauth-agent/internal/token"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// maxClockSkew is how far this clock may be from Vault's before diagnose
// warns: STS refuses signatures more than 15 minutes off AWS's clock.
const maxClockSkew = 5 * time.Minute

func (d *diagnosis) checkVault(ctx context.Context) Result {
	v := d.cfg.Vault
	c, err := vault.NewClient(v, d.cfg.Lifecycle, nil)
	if err != nil {
		return failed(failure.Config, err.Error(), "fix the vault block's TLS settings (ca_cert, ca_path, client_cert, client_key)")
	}
	d.vault = c
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	// The same codes as vault/api's Health: every server state answers 2xx.
	q := url.Values{}
	for _, k := range []string{"uninitcode", "sealedcode", "standbycode", "drsecondarycode", "performancestandbycode", "removedcode", "haunhealthycode"} {
		q.Set(k, "299")
	}
	resp, err := c.Logical().ReadRawWithDataWithContext(ctx, "sys/health", q)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		saw, fix := explainVaultError(v.Address(), "sys/health", err)
		return failed(failure.Unreachable, saw, fix)
	}
	var h api.HealthResponse
	if err := resp.DecodeJSON(&h); err != nil {
		return failed(failure.Unreachable, fmt.Sprintf("%s answered sys/health with something that is not Vault's: %v", v.Address(), err),
			"check vault.address (VAULT_ADDR): it must be Vault's API address, e.g. https://vault.example:8200")
	}
	det := map[string]any{"version": h.Version, "initialized": h.Initialized, "sealed": h.Sealed, "standby": h.Standby,
		"cluster_name": h.ClusterName, "namespace": v.Namespace}
	switch {
	case !h.Initialized:
		return Result{Status: Fail, Kind: failure.Unreachable, Details: det, Saw: v.Address() + " answers, but Vault is not initialized", Fix: "initialize it (vault operator init)"}
	case h.Sealed:
		return Result{Status: Fail, Kind: failure.Unreachable, Details: det, Saw: v.Address() + " answers, but Vault is sealed", Fix: "unseal it (vault operator unseal), or wait for auto-unseal"}
	}
	state := "active"
	if h.Standby {
		state = "standby (requests are forwarded to the active node)"
	}
	ns := "root namespace"
	if v.Namespace != "" {
		ns = "namespace " + v.Namespace
	}
	saw := fmt.Sprintf("%s answers: Vault %s, unsealed, %s; %s", v.Address(), h.Version, state, ns)
	r := Result{Status: Pass, Details: det}
	var warns, fixes []string
	if st := resp.TLS; st != nil && len(st.PeerCertificates) > 0 {
		cert := st.PeerCertificates[0]
		saw += fmt.Sprintf("\n%s, certificate %q issued by %q, valid until %s", tls.VersionName(st.Version),
			cert.Subject.CommonName, cert.Issuer.CommonName, cert.NotAfter.UTC().Format(time.RFC3339))
		det["tls_version"], det["cert_not_after"] = tls.VersionName(st.Version), cert.NotAfter.UTC().Format(time.RFC3339)
		if left := cert.NotAfter.Sub(d.now()); left < 14*24*time.Hour {
			warns = append(warns, fmt.Sprintf("Vault's certificate expires in %v", left.Round(time.Hour)))
			fixes = append(fixes, "renew Vault's TLS certificate")
		}
		if v.TLSSkipVerify {
			warns = append(warns, "tls_skip_verify is set: the certificate was not checked")
			fixes = append(fixes, "trust Vault's CA with vault.ca_cert (VAULT_CACERT) and drop tls_skip_verify")
		}
	} else if u, err := url.Parse(v.Address()); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		warns = append(warns, "plain http to a remote host: the token travels unencrypted")
		fixes = append(fixes, "use an https:// address")
	}
	if h.ServerTimeUTC > 0 {
		skew := d.now().Sub(time.Unix(h.ServerTimeUTC, 0))
		det["clock_skew"] = skew.Round(time.Second).String()
		if skew > maxClockSkew || skew < -maxClockSkew {
			warns = append(warns, fmt.Sprintf("this host's clock is %v off Vault's", skew.Round(time.Second)))
			fixes = append(fixes, "fix the clock (chrony, systemd-timesyncd): STS refuses signatures more than 15 minutes off")
		}
	}
	if len(warns) > 0 {
		r.Status = Warn
		saw += "\n" + strings.Join(warns, "\n")
		r.Fix = strings.Join(fixes, "; ")
	}
	r.Saw = saw
	d.vaultOK = true
	return r
}

// explainVaultError turns a failed request to Vault into what happened and
// what to change.
func explainVaultError(addr, path string, err error) (string, string) {
	saw := fmt.Sprintf("%s did not answer %s: %v", addr, path, err)
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var re *api.ResponseError
	msg := err.Error()
	switch {
	case errors.As(err, &unknownCA):
		return saw, "Vault's certificate is signed by a CA this host does not trust: set vault.ca_cert (VAULT_CACERT) to that CA's PEM file"
	case errors.As(err, &host):
		return saw, fmt.Sprintf("Vault's certificate is not valid for %q (%s): use an address with one of its names, or set vault.tls_server_name", host.Host, certNames(host.Certificate))
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return saw, "Vault's certificate has expired, or this host's clock is wrong: renew the certificate, or fix the clock"
	case strings.Contains(msg, "HTTP response to HTTPS client") || strings.Contains(msg, "does not look like a TLS handshake"):
		return saw, "Vault speaks plain http at that address: use http:// in vault.address, or enable TLS on Vault's listener"
	case errors.As(err, &re) && strings.Contains(strings.Join(re.Errors, " "), "HTTP request to an HTTPS server"):
		return saw, "Vault speaks https at that address: use https:// in vault.address"
	case errors.As(err, &re):
		return saw, "Vault answered an error: check that vault.address is Vault's API address and the namespace exists"
	case strings.Contains(msg, "connection refused"):
		return saw, "nothing listens there: check vault.address (VAULT_ADDR) and that Vault runs"
	case strings.Contains(msg, "no such host"):
		return saw, "the name does not resolve: check vault.address (VAULT_ADDR) and DNS"
	case isTimeout(err):
		return saw, "no answer in time: a firewall or security group blocks the port, or the address is wrong"
	}
	return saw, "check vault.address (VAULT_ADDR), the network path and Vault's TLS settings"
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "it names no host"
	}
	return "it names " + strings.Join(names, ", ")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// operator is a Vault client with the operator token, or nil.
func (d *diagnosis) operator() *api.Client {
	if d.o.OperatorToken == "" {
		return nil
	}
	c, err := vault.NewClient(d.cfg.Vault, d.cfg.Lifecycle, nil)
	if err != nil {
		return nil
	}
	c.SetToken(d.o.OperatorToken)
	return c
}

// noAuthValues is the aws auth method's answer to a login that carries no
// ec2 or iam fields: it proves the mount exists and is the aws method.
const noAuthValues = "didn't supply required authentication values"

func (d *diagnosis) checkMount(ctx context.Context) Result {
	if !d.vaultOK {
		return skipped("Vault is unreachable (see vault)")
	}
	mount := d.cfg.Auth.Mount
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	// An empty login: the aws method answers it with a 400 of its own,
	// without calling AWS; an unknown path answers 403 to requests without a
	// token. No token is made either way.
	_, err := d.vault.Logical().WriteWithContext(ctx, "auth/"+mount+"/login", map[string]any{})
	var re *api.ResponseError
	switch {
	case err == nil:
		return Result{Status: Warn, Saw: fmt.Sprintf("auth/%s/login accepted an empty login: this is not the aws auth method", mount),
			Fix: "set mount (auth.mount, --mount) to the path the aws auth method is enabled at (vault auth list)"}
	case !errors.As(err, &re):
		saw, fix := explainVaultError(d.cfg.Vault.Address(), "auth/"+mount+"/login", err)
		return failed(failure.Unreachable, saw, fix)
	case re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, " "), noAuthValues):
		d.mountOK = true
		return Result{Status: Pass, Saw: fmt.Sprintf("auth/%s is an aws auth method (an empty login got its %q)", mount, strings.Join(re.Errors, "; "))}
	case re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests:
		return failed(failure.Unreachable, fmt.Sprintf("auth/%s/login answered HTTP %d: %s", mount, re.StatusCode, strings.Join(re.Errors, "; ")), "Vault is failing or rate-limiting: check its logs")
	case re.StatusCode == http.StatusBadRequest:
		return failed(failure.Refused, fmt.Sprintf("auth/%s answers, but not as the aws auth method: an empty login got %q", mount, strings.Join(re.Errors, "; ")),
			"set mount (auth.mount, --mount) to the path the aws auth method is enabled at"+d.awsMounts(ctx))
	}
	ns := ""
	if d.cfg.Vault.Namespace != "" {
		ns = " in namespace " + d.cfg.Vault.Namespace
	}
	return failed(failure.Refused, fmt.Sprintf("no auth method is enabled at auth/%s%s (an unauthenticated request there got HTTP %d %s)", mount, ns, re.StatusCode, strings.Join(re.Errors, "; ")),
		"set mount (auth.mount, --mount) to the path the aws auth method is enabled at, and check the namespace"+d.awsMounts(ctx))
}

// awsMounts ends a fix with the aws auth mounts the operator token can see,
// or with a pointer to vault auth list.
func (d *diagnosis) awsMounts(ctx context.Context) string {
	op := d.operator()
	if op == nil {
		return " (vault auth list)"
	}
	auths, err := op.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return " (vault auth list)"
	}
	var paths []string
	for p, m := range auths {
		if m != nil && m.Type == "aws" {
			paths = append(paths, strings.TrimSuffix(p, "/"))
		}
	}
	if len(paths) == 0 {
		return "; no aws auth method is enabled here"
	}
	sort.Strings(paths)
	return "; aws auth methods here: " + strings.Join(paths, ", ")
}

func (d *diagnosis) checkLogin(ctx context.Context) Result {
	switch {
	case d.creds == nil:
		return skipped("no AWS credentials (see credentials)")
	case !d.vaultOK:
		return skipped("Vault is unreachable (see vault)")
	case !d.mountOK:
		return skipped(fmt.Sprintf("no aws auth method at auth/%s (see mount)", d.cfg.Auth.Mount))
	}
	loginCtx, cancel := context.WithTimeout(ctx, 2*d.o.Timeout)
	defer cancel()
	secret, err := login.New(d.vault, d.provider, d.cfg.Auth, d.now, d.log).Login(loginCtx)
	if err != nil {
		var ref *vault.Error
		if errors.As(err, &ref) && ref.Kind.Retry() == failure.LoginSlowly {
			d.loginRefusal = ref
			cause, fix := ref.Cause, ref.Fix
			if cause == "" {
				cause, fix = d.upstreamCause(strings.Join(ref.Errors, "; "))
			}
			saw := fmt.Sprintf("Vault refused the login (HTTP %d): %s", ref.Status, strings.Join(ref.Errors, "; "))
			if cause != "" {
				saw += "\ncause: " + cause
			}
			return failed(failure.Refused, saw, fix)
		}
		k, fix := failure.Of(err), ""
		switch {
		case k == failure.Credentials:
			fix = "see credentials"
		case k == failure.Unreachable, isTimeout(err):
			k, fix = failure.Unreachable, "Vault failed or did not answer the login in time: check its logs, and its reach to the STS endpoint it forwards to"
		default:
			k = failure.Runtime
		}
		return failed(k, "the login failed: "+err.Error(), fix)
	}
	d.loginAccepted = true
	a := secret.Auth
	ttl := token.LeaseTTL(a.LeaseDuration)
	det := map[string]any{"accessor": a.Accessor, "policies": a.Policies, "ttl": ttl.String(), "renewable": a.Renewable, "metadata": a.Metadata}
	saw := fmt.Sprintf("logged in: accessor %s, policies %s, ttl %v", a.Accessor, strings.Join(a.Policies, ","), ttl)
	if a.Renewable {
		saw += ", renewable"
	}
	// Revoke even when diagnose is being interrupted: the token is a
	// by-product of the check.
	revokeCtx, cancelRevoke := context.WithTimeout(context.WithoutCancel(ctx), d.o.Timeout)
	defer cancelRevoke()
	rc, err := vault.NewClient(d.cfg.Vault, d.cfg.Lifecycle, nil)
	if err == nil {
		rc.SetToken(a.ClientToken)
		err = rc.Auth().Token().RevokeSelfWithContext(revokeCtx, "")
	}
	if err != nil {
		return Result{Status: Warn, Details: det, Saw: saw + "\ncould not revoke this test login's token: " + err.Error(),
			Fix: fmt.Sprintf("revoke it: vault token revoke -accessor %s (or let it expire in %v)", a.Accessor, ttl)}
	}
	det["revoked"] = true
	return Result{Status: Pass, Details: det, Saw: saw + "\nthe test token was revoked"}
}

// upstreamCause reads the refusals login.Diagnose leaves unexplained: Vault
// failing to reach, or to understand, the STS endpoint it forwards to.
func (d *diagnosis) upstreamCause(msg string) (cause, fix string) {
	where := fmt.Sprintf("the sts_endpoint of auth/%s/config/client (default https://sts.amazonaws.com)", d.cfg.Auth.Mount)
	switch {
	case strings.Contains(msg, "error making upstream request: error making request"):
		return "Vault could not reach the STS endpoint it forwards the signed request to",
			"check Vault's network path (DNS, proxy, firewall) to " + where + ", or point sts_endpoint at an STS endpoint Vault can reach"
	case strings.Contains(msg, "body of GetCallerIdentity is invalid") || strings.Contains(msg, "error parsing STS response"):
		return "what answered at Vault's STS endpoint is not STS (Vault wants a text/xml GetCallerIdentityResponse)",
			"check " + where + ": a proxy or captive portal may answer instead of STS"
	}
	if d.o.OperatorToken != "" {
		return "", "Vault's words above name the problem; the role and server-config steps compare the role and the mount's config with this agent's"
	}
	return "", "Vault's words above name the problem; set VAULT_TOKEN to an operator token and the role and server-config steps compare the role and the mount's config with this agent's"
}

// roleName is the Vault role the login uses: the configured one, or the IAM
// role's name as Vault takes it (lowercased).
func (d *diagnosis) roleName() string {
	if d.cfg.Auth.Role != "" {
		return strings.ToLower(d.cfg.Auth.Role)
	}
	if d.caller != nil {
		return strings.ToLower(d.principal.Name)
	}
	return ""
}

// operatorRead reads path with the operator token. When it cannot, the Result says why:
// skipped without a token, with Vault or the mount down, or when the token may not read path;
// a warning when the read failed.
func (d *diagnosis) operatorRead(ctx context.Context, path string) (map[string]any, *Result) {
	skip := func(why string) (map[string]any, *Result) { r := skipped(why); return nil, &r }
	switch {
	case d.o.OperatorToken == "":
		return skip(fmt.Sprintf("set VAULT_TOKEN to a token that may read %s to check it against this agent", path))
	case !d.vaultOK:
		return skip("Vault is unreachable (see vault)")
	case !d.mountOK:
		return skip(fmt.Sprintf("no aws auth method at auth/%s (see mount)", d.cfg.Auth.Mount))
	}
	op := d.operator()
	if op == nil {
		return skip("cannot build a Vault client for the operator token")
	}
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	s, err := op.Logical().ReadWithContext(ctx, path)
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
		return skip(fmt.Sprintf("VAULT_TOKEN may not read %s (permission denied)", path))
	}
	if err != nil {
		return nil, &Result{Status: Warn, Saw: fmt.Sprintf("could not read %s: %v", path, err)}
	}
	if s == nil {
		return nil, nil
	}
	return s.Data, nil
}

// reCallerInRefusal takes the caller ARN out of Vault's "not bound" refusal.
// It is compiled when first needed (the daemon never runs diagnose).
var reCallerInRefusal = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`IAM Principal "([^"]+)"`) })

func (d *diagnosis) checkRole(ctx context.Context) Result {
	mount := d.cfg.Auth.Mount
	name := d.roleName()
	if name == "" {
		return skipped("no role is configured and the caller identity is unknown (see identity)")
	}
	path := fmt.Sprintf("auth/%s/role/%s", mount, name)
	data, res := d.operatorRead(ctx, path)
	switch {
	case res != nil:
		return *res
	case data == nil:
		return failed(failure.Refused, fmt.Sprintf("role %q does not exist on auth/%s", name, mount), d.roleListFix(ctx, mount))
	}
	if t, _ := data["auth_type"].(string); t != "" && t != "iam" {
		return failed(failure.Refused, fmt.Sprintf("role %q has auth_type=%s and refuses IAM logins", name, t), "use a role with auth_type=iam")
	}
	b := Binding{ARNs: stringList(data["bound_iam_principal_arn"]), IDs: stringList(data["bound_iam_principal_id"])}
	b.ResolveUniqueIDs, _ = data["resolve_aws_unique_ids"].(bool)
	det := map[string]any{"role": name, "bound_iam_principal_arn": b.ARNs, "bound_iam_principal_id": b.IDs, "resolve_aws_unique_ids": b.ResolveUniqueIDs}
	if cidrs := stringList(data["token_bound_cidrs"]); len(cidrs) > 0 {
		det["token_bound_cidrs"] = cidrs
	}

	c, ok := d.callerForBinding()
	if !ok {
		return Result{Status: Skip, Details: det, Saw: fmt.Sprintf("skipped: role %q binds %s, but the caller identity is unknown (see identity)", name, strings.Join(b.ARNs, ", "))}
	}
	v := CheckBinding(b, c)
	det["verdict"] = v
	var lines []string
	lines = append(lines, fmt.Sprintf("role %q (resolve_aws_unique_ids=%t) against caller %s", name, b.ResolveUniqueIDs, describeCaller(c)))
	for _, p := range v.Patterns {
		mark := "no "
		if p.Match {
			mark = "yes"
		}
		lines = append(lines, fmt.Sprintf("  %s %s: %s", mark, p.Pattern, p.Why))
	}
	if cidrs, ok := det["token_bound_cidrs"].([]string); ok {
		lines = append(lines, fmt.Sprintf("token_bound_cidrs %s: Vault refuses logins from other addresses with 403 permission denied", strings.Join(cidrs, ",")))
	}
	if v.Match {
		lines = append(lines, "admitted: "+v.By)
		return Result{Status: Pass, Details: det, Saw: strings.Join(lines, "\n")}
	}
	lines = append(lines, "no pattern admits this caller")
	bind := c.Canonical
	if c.FullARN != "" && c.FullARN != c.Canonical {
		bind = c.FullARN + "*"
	}
	fix := fmt.Sprintf("add %s to bound_iam_principal_arn of %s, or log in with a role that binds this instance", bind, path)
	switch {
	case v.Approximate:
		return Result{Status: Warn, Details: det, Saw: strings.Join(lines, "\n") + "\n(the full ARN is unknown, so wildcards were checked against the canonical ARN: see full-arn)", Fix: fix}
	case d.loginAccepted:
		return Result{Status: Warn, Details: det, Saw: strings.Join(lines, "\n") + "\nyet Vault accepted the login: this reading may be missing something Vault knows (a cached full ARN)", Fix: ""}
	}
	return Result{Status: Fail, Kind: failure.Refused, Details: det, Saw: strings.Join(lines, "\n"), Fix: fix}
}

// callerForBinding is the caller as the binding check needs it, from
// GetCallerIdentity or, failing that, from Vault's refusal.
func (d *diagnosis) callerForBinding() (Caller, bool) {
	if d.caller != nil {
		return Caller{UniqueID: uniqueID(d.caller.UserID), Canonical: d.principal.Canonical(), FullARN: d.fullARN}, true
	}
	if d.loginRefusal != nil {
		if m := reCallerInRefusal().FindStringSubmatch(strings.Join(d.loginRefusal.Errors, " ")); m != nil {
			if p, err := ParsePrincipal(m[1]); err == nil {
				return Caller{Canonical: p.Canonical()}, true
			}
		}
	}
	return Caller{}, false
}

func describeCaller(c Caller) string {
	s := c.Canonical
	var extra []string
	if c.FullARN != "" && c.FullARN != c.Canonical {
		extra = append(extra, "full ARN "+c.FullARN)
	}
	if c.UniqueID != "" {
		extra = append(extra, "unique ID "+c.UniqueID)
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

func (d *diagnosis) roleListFix(ctx context.Context, mount string) string {
	fix := fmt.Sprintf("check the role name (vault list auth/%s/role)", mount)
	op := d.operator()
	if op == nil {
		return fix
	}
	s, err := op.Logical().ListWithContext(ctx, "auth/"+mount+"/role")
	if err != nil || s == nil {
		return fix
	}
	if keys := stringList(s.Data["keys"]); len(keys) > 0 {
		fix += "; roles there: " + strings.Join(keys, ", ")
	}
	return fix
}

func (d *diagnosis) checkServerConfig(ctx context.Context) Result {
	mount := d.cfg.Auth.Mount
	path := fmt.Sprintf("auth/%s/config/client", mount)
	data, res := d.operatorRead(ctx, path)
	if res != nil {
		return *res
	}
	endpoint, _ := data["sts_endpoint"].(string)
	region, _ := data["sts_region"].(string)
	header, _ := data["iam_server_id_header_value"].(string)
	fromClient, _ := data["use_sts_region_from_client"].(bool)
	a := d.cfg.Auth
	det := map[string]any{"sts_endpoint": endpoint, "sts_region": region, "iam_server_id_header_value": header,
		"use_sts_region_from_client": fromClient, "config_present": data != nil}

	// Mismatches first, then what agrees, then notes.
	var bad, good, notes, fixes []string
	for _, c := range []comparison{
		compareHeader(header, a.HeaderValue, mount),
		compareRegion(endpoint, fromClient, a.STSRegion, a.STSEndpoint, mount),
	} {
		if c.ok {
			good = append(good, c.saw)
		} else {
			bad = append(bad, c.saw)
			fixes = append(fixes, c.fix)
		}
	}
	if data == nil {
		notes = append(notes, "the mount has no config/client: Vault forwards to https://sts.amazonaws.com and checks no server ID header")
	}
	if region != "" && region != a.STSRegion {
		notes = append(notes, fmt.Sprintf("sts_region %q on the mount is the region of Vault's own STS client (AssumeRole), not of the requests it forwards", region))
	}
	r := Result{Status: Pass, Details: det, Saw: strings.Join(append(append(bad, good...), notes...), "\n")}
	if len(bad) > 0 {
		r.Status, r.Kind, r.Fix = Fail, failure.Refused, strings.Join(fixes, "; ")
	}
	return r
}

// comparison is one setting of the mount checked against this agent's.
type comparison struct {
	ok       bool
	saw, fix string
}

// compareHeader compares the mount's iam_server_id_header_value with the
// value this agent sends.
func compareHeader(server, agent, mount string) comparison {
	switch {
	case server == "" && agent == "":
		return comparison{true, "server ID header: the mount checks none, and this agent sends none", ""}
	case server == "":
		return comparison{true, fmt.Sprintf("server ID header: the mount checks none; this agent sends %q, which Vault ignores", agent), ""}
	case agent == "":
		return comparison{false, fmt.Sprintf("server ID header: the mount expects %s %q, and this agent sends none", login.ServerIDHeader, server),
			fmt.Sprintf("set header_value = %q in the auth block (or --header-value)", server)}
	case server != agent:
		return comparison{false, fmt.Sprintf("server ID header: the mount expects %q, this agent is configured with %q (compared exactly, case-sensitively)", server, agent),
			fmt.Sprintf("set header_value = %q in the auth block (or --header-value), or change iam_server_id_header_value in auth/%s/config/client", server, mount)}
	}
	return comparison{true, fmt.Sprintf("server ID header: the mount expects %q, and this agent sends it", server), ""}
}

// compareRegion checks where Vault forwards the signed request against the
// region this agent signs for. Real STS refuses a signature scoped to a
// region other than its endpoint's ("Credential should be scoped to a valid
// region"); the global endpoint takes only us-east-1.
func compareRegion(serverEndpoint string, useClientRegion bool, signedRegion, agentEndpoint, mount string) comparison {
	if useClientRegion {
		return comparison{true, fmt.Sprintf("STS: the mount has use_sts_region_from_client=true, so Vault forwards each login to the STS endpoint of the region it is signed for (%s)", signedRegion), ""}
	}
	endpoint := serverEndpoint
	if endpoint == "" {
		endpoint = awsname.GlobalSTSEndpoint
	}
	host := endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host = strings.ToLower(u.Hostname())
	}
	region, known := awsname.STSHostRegion(host)
	if !known {
		agentHost := agentEndpoint
		if u, err := url.Parse(agentEndpoint); err == nil && u.Host != "" {
			agentHost = u.Host
		}
		return comparison{true, fmt.Sprintf("STS: Vault forwards to %s, whose region its name does not tell; Vault keeps the Host %s this agent signs for, so what answers there decides (this agent signs for %s)",
			endpoint, agentHost, signedRegion), ""}
	}
	if region == signedRegion {
		return comparison{true, fmt.Sprintf("STS: Vault forwards to %s (region %s), the region this agent signs for", endpoint, region), ""}
	}
	return comparison{false, fmt.Sprintf("STS: Vault forwards to %s, which takes only region %s signatures, but this agent signs for %s", endpoint, region, signedRegion),
		fmt.Sprintf("sign for %s: set sts_region = %q and sts_endpoint = %q in the auth block (--sts-region, --sts-endpoint); or, on the mount, set sts_endpoint and sts_region for %s, or use_sts_region_from_client=true (vault write auth/%s/config/client ...)",
			region, region, endpoint, signedRegion, mount)}
}

// stringList reads a JSON list of strings (or a comma-separated string).
func stringList(v any) []string {
	switch t := v.(type) {
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return slices.Clone(t)
	case string:
		if t == "" {
			return nil
		}
		return strings.Split(t, ",")
	}
	return nil
}
