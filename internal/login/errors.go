package login

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Kinds of failure; the CLI maps each to an exit code and the lifecycle to
// a retry decision. Test with errors.Is.
var (
	// ErrCredentials: no usable AWS credentials (IMDS, env, profile...).
	ErrCredentials = errors.New("aws credentials unavailable")
	// ErrUnreachable: Vault did not answer, or answered 5xx/429.
	ErrUnreachable = errors.New("vault unreachable")
	// ErrRefused: Vault answered and refused the login (4xx).
	ErrRefused = errors.New("login refused by vault")
)

// Refusal is a login Vault refused, with what Vault said and our reading
// of it.
type Refusal struct {
	Status int      // HTTP status
	Vault  []string // Vault's error messages, verbatim
	Cause  string   // short cause, e.g. "server ID header mismatch"
	Fix    string   // what to change
}

func (r *Refusal) Error() string {
	msg := fmt.Sprintf("vault refused the login (HTTP %d): %s", r.Status, strings.Join(r.Vault, "; "))
	if r.Cause != "" {
		msg += "\ncause: " + r.Cause
	}
	if r.Fix != "" {
		msg += "\nfix: " + r.Fix
	}
	return msg
}

func (r *Refusal) Unwrap() error { return ErrRefused }

var (
	reHeaderMismatch = regexp.MustCompile(`expected "([^"]*)" but got "([^"]*)"`)
	reNotBound       = regexp.MustCompile(`IAM Principal "([^"]+)" does not belong to the role "([^"]+)"`)
	reRoleNotFound   = regexp.MustCompile(`entry for role "?([^" ]+)"? not found`)
	reScope          = regexp.MustCompile(`Credential should be scoped to a valid region, not '([^']*)'`)
	reNotAllowed     = regexp.MustCompile(`auth method iam not allowed for role "?([^" ]+)"?`)
)

// Diagnose reads Vault's refusal and says what most likely went wrong.
// mount, role and target are what this agent sent.
func Diagnose(status int, vaultErrs []string, mount, role string, t SigningTarget) *Refusal {
	r := &Refusal{Status: status, Vault: vaultErrs}
	msg := strings.Join(vaultErrs, "; ")
	roleDesc := role
	if roleDesc == "" {
		roleDesc = "(none sent: Vault uses the IAM role's name)"
	}
	switch {
	case strings.Contains(msg, "X-Vault-AWS-IAM-Server-ID") && reHeaderMismatch.MatchString(msg):
		m := reHeaderMismatch.FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("server ID header mismatch: Vault expects %s %q, this agent sent %q", ServerIDHeader, m[1], m[2])
		r.Fix = fmt.Sprintf("set header_value = %q in the auth block (or --header-value); it must equal iam_server_id_header_value in auth/%s/config/client", m[1], mount)
	case strings.Contains(msg, "X-Vault-AWS-IAM-Server-ID") && strings.Contains(msg, "missing header"):
		r.Cause = fmt.Sprintf("Vault requires the %s header and this agent sent none", ServerIDHeader)
		r.Fix = fmt.Sprintf("set header_value in the auth block (or --header-value) to iam_server_id_header_value of auth/%s/config/client", mount)
	case reNotBound.MatchString(msg):
		m := reNotBound.FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("principal not bound: Vault saw caller %s, derived the IAM role ARN %s, and it matches none of role %q's bound_iam_principal_arn patterns",
			m[1], DeriveRoleARN(m[1]), m[2])
		r.Fix = fmt.Sprintf("use a Vault role whose bound_iam_principal_arn covers this instance role, or add the ARN to auth/%s/role/%s. "+
			"If the instance role has an IAM path (role/team/name), Vault matches wildcards against the full ARN from iam:GetRole, which keeps the path, so role/name* does not match: bind arn:aws:iam::ACCOUNT:role/team/name* instead", mount, m[2])
	case reRoleNotFound.MatchString(msg):
		m := reRoleNotFound.FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("role %q does not exist on the mount %q", m[1], mount)
		r.Fix = fmt.Sprintf("check the role name (vault list auth/%s/role) and the mount path", mount)
	case reNotAllowed.MatchString(msg):
		m := reNotAllowed.FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("role %q has auth_type=ec2 and refuses IAM logins", m[1])
		r.Fix = "use a role with auth_type=iam, or the ec2 auth type"
	case reScope.MatchString(msg):
		m := reScope.FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("region mismatch: the request was signed for region %q, but the STS endpoint Vault forwards to expects another region", m[1])
		r.Fix = fmt.Sprintf("sign for the region of Vault's sts_endpoint (default us-east-1 with https://sts.amazonaws.com): set sts_region/sts_endpoint in the auth block, or set sts_endpoint and sts_region (or use_sts_region_from_client=true) in auth/%s/config/client; this agent signed for %s at %s", mount, t.Region, t.Endpoint)
	case strings.Contains(msg, "Signature expired"):
		r.Cause = "the signed request's date is more than 15 minutes off: the instance clock is wrong"
		r.Fix = "fix the clock (chrony/systemd-timesyncd) and try again"
	case strings.Contains(msg, "ExpiredToken") || strings.Contains(msg, "InvalidClientTokenId"):
		r.Cause = "STS rejected the AWS credentials the request was signed with (expired or unknown)"
		r.Fix = "check the credentials source (instance profile attached, env keys current)"
	case strings.Contains(msg, "SignatureDoesNotMatch"):
		r.Cause = "STS rejected the signature"
		r.Fix = "check that the signing endpoint host matches Vault's sts_endpoint and the secret key is correct"
	case strings.Contains(msg, "no handler for route"):
		r.Cause = fmt.Sprintf("no auth method is mounted at auth/%s", mount)
		r.Fix = "set mount to the path the aws auth method is enabled at (vault auth list)"
	case strings.Contains(msg, "error looking up full ARN") || strings.Contains(msg, "no STS configuration found"):
		r.Cause = "Vault could not resolve the caller's full ARN in its account (cross-account trust or IAM permissions)"
		r.Fix = fmt.Sprintf("check auth/%s/config/sts/<account> names a role Vault may assume, and that role may call iam:GetRole", mount)
	case status == 403:
		r.Cause = fmt.Sprintf("permission denied: most often no auth method is mounted at auth/%s (in this namespace); otherwise the role's token_bound_cidrs exclude this address", mount)
		r.Fix = "set mount to the path the aws auth method is enabled at (vault auth list), check the namespace, and the role's token_bound_cidrs"
	}
	return r
}

// DeriveRoleARN turns an STS caller ARN into the IAM ARN Vault binds
// against: arn:aws:sts::A:assumed-role/R/S -> arn:aws:iam::A:role/R. Other
// ARNs are returned unchanged.
func DeriveRoleARN(caller string) string {
	parts := strings.SplitN(caller, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" {
		return caller
	}
	res := strings.Split(parts[5], "/")
	if len(res) < 2 || res[0] != "assumed-role" {
		return caller
	}
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", parts[1], parts[4], res[1])
}
