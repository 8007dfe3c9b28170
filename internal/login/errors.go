package login

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// The patterns of Vault's refusals. Each is compiled when first needed: an agent whose logins
// succeed never reads a refusal, and a compiled pattern would stay in its memory for good.
var (
	reHeaderMismatch = lazyRegexp(`expected "([^"]*)" but got "([^"]*)"`)
	reNotBound       = lazyRegexp(`IAM Principal "([^"]+)" does not belong to the role "([^"]+)"`)
	reRoleNotFound   = lazyRegexp(`entry for role "?([^" ]+)"? not found`)
	reScope          = lazyRegexp(`Credential should be scoped to a valid region, not '([^']*)'`)
	reNotAllowed     = lazyRegexp(`auth method iam not allowed for role "?([^" ]+)"?`)
)

// lazyRegexp compiles expr the first time the returned function is called.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// Diagnose reads Vault's refusal of a login and says what most likely went
// wrong. mount, role and target are what this agent sent.
func Diagnose(status int, vaultErrs []string, mount, role string, t SigningTarget) *vault.Error {
	r := refusal(status, vaultErrs)
	msg := strings.Join(vaultErrs, "; ")
	roleDesc := role
	if roleDesc == "" {
		roleDesc = "(none sent: Vault uses the IAM role's name)"
	}
	switch {
	case strings.Contains(msg, "X-Vault-AWS-IAM-Server-ID") && reHeaderMismatch().MatchString(msg):
		m := reHeaderMismatch().FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("server ID header mismatch: Vault expects %s %q, this agent sent %q", ServerIDHeader, m[1], m[2])
		r.Fix = fmt.Sprintf("set header_value = %q in the auth block (or --header-value); it must equal iam_server_id_header_value in auth/%s/config/client", m[1], mount)
	case strings.Contains(msg, "X-Vault-AWS-IAM-Server-ID") && strings.Contains(msg, "missing header"):
		r.Cause = fmt.Sprintf("Vault requires the %s header and this agent sent none", ServerIDHeader)
		r.Fix = fmt.Sprintf("set header_value in the auth block (or --header-value) to iam_server_id_header_value of auth/%s/config/client", mount)
	case reNotBound().MatchString(msg):
		m := reNotBound().FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("principal not bound: Vault saw caller %s, derived the IAM role ARN %s, and it matches none of role %q's bound_iam_principal_arn patterns",
			m[1], DeriveRoleARN(m[1]), m[2])
		r.Fix = fmt.Sprintf("use a Vault role whose bound_iam_principal_arn covers this instance role, or add the ARN to auth/%s/role/%s. "+
			"If the instance role has an IAM path (role/team/name), Vault matches wildcards against the full ARN from iam:GetRole, which keeps the path, so role/name* does not match: bind arn:aws:iam::ACCOUNT:role/team/name* instead", mount, m[2])
	case reNotAllowed().MatchString(msg):
		m := reNotAllowed().FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("role %q has auth_type=ec2 and refuses IAM logins", m[1])
		r.Fix = "use a role with auth_type=iam, or the ec2 auth type"
	case reScope().MatchString(msg):
		m := reScope().FindStringSubmatch(msg)
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
	case strings.Contains(msg, "error looking up full ARN") || strings.Contains(msg, "no STS configuration found"):
		r.Cause = "Vault could not resolve the caller's full ARN in its account (cross-account trust or IAM permissions)"
		r.Fix = fmt.Sprintf("check auth/%s/config/sts/<account> names a role Vault may assume, and that role may call iam:GetRole", mount)
	default:
		diagnoseCommon(r, msg, mount)
	}
	return r
}

// diagnoseCommon reads the refusals both auth types get: an unknown role,
// no such mount, permission denied.
func diagnoseCommon(r *vault.Error, msg, mount string) {
	switch {
	case reRoleNotFound().MatchString(msg):
		m := reRoleNotFound().FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("role %q does not exist on the mount %q", m[1], mount)
		r.Fix = fmt.Sprintf("check the role name (vault list auth/%s/role) and the mount path", mount)
	case strings.Contains(msg, "no handler for route"):
		r.Cause = fmt.Sprintf("no auth method is mounted at auth/%s", mount)
		r.Fix = "set mount to the path the aws auth method is enabled at (vault auth list)"
	case r.Status == 403:
		r.Cause = fmt.Sprintf("permission denied: most often no auth method is mounted at auth/%s (in this namespace); otherwise the role's token_bound_cidrs exclude this address", mount)
		r.Fix = "set mount to the path the aws auth method is enabled at (vault auth list), check the namespace, and the role's token_bound_cidrs"
	}
}

// refusal is Vault's refusal of a login, yet without a reading.
func refusal(status int, vaultErrs []string) *vault.Error {
	return &vault.Error{Op: "login", Status: status, Errors: vaultErrs, Kind: failure.Refused}
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

// EC2Attempt is what an ec2 login sent, for DiagnoseEC2.
type EC2Attempt struct {
	Mount, Role string
	Signature   string // rsa2048, pkcs7 or identity
	NonceFile   string
	Doc         InstanceIdentity // the document the login carried
}

var (
	reEC2NotAllowed = lazyRegexp(`auth method ec2 not allowed for role "?([^" ]+)"?`)
	reEC2Bound      = lazyRegexp(`(instance ID|account ID|AMI ID|subnet ID|VPC ID|IAM instance profile ARN|IAM role ARN) "([^"]*)" (?:does not belong to|does not satisfy the constraint(?: on)?) role "([^"]+)"`)
	reEC2Region     = lazyRegexp(`Region "([^"]*)" does not satisfy the constraint on role "([^"]+)"`)
)

// ec2Binds maps the subject of Vault's bind-check messages to the role
// setting that made the check.
var ec2Binds = map[string]string{
	"instance ID":              "bound_ec2_instance_id",
	"account ID":               "bound_account_id",
	"AMI ID":                   "bound_ami_id",
	"subnet ID":                "bound_subnet_id",
	"VPC ID":                   "bound_vpc_id",
	"IAM instance profile ARN": "bound_iam_instance_profile_arn",
	"IAM role ARN":             "bound_iam_role_arn",
}

// DiagnoseEC2 reads Vault's refusal of an ec2 login and says what most
// likely went wrong. For a 5xx it returns nil unless the message shows a
// refusal that waiting does not fix (Vault answers a document whose
// signature it cannot check with a 500).
func DiagnoseEC2(status int, vaultErrs []string, a EC2Attempt) *vault.Error {
	r := refusal(status, vaultErrs)
	msg := strings.Join(vaultErrs, "; ")
	id := a.Doc.InstanceID
	if id == "" {
		id = "<instance-id>"
	}
	resetEntry := fmt.Sprintf("vault delete auth/%s/identity-accesslist/%s", a.Mount, id)
	switch {
	case strings.Contains(msg, "client nonce mismatch"):
		r.Kind = failure.NonceMismatch
		r.Cause = fmt.Sprintf("client nonce mismatch: instance %s already logged in to auth/%s with another nonce, which Vault keeps in its identity access list; "+
			"the nonce in %s is not that one: the file was lost or replaced, the instance was restored from an image or snapshot, or another agent on this instance logged in first with its own nonce file",
			id, a.Mount, a.NonceFile)
		if strings.Contains(msg, "meta-data incorrect") {
			r.Cause += "; the role allows instance migration, but the document's pendingTime is not newer than the one Vault stored"
		}
		r.Fix = fmt.Sprintf("either put the old nonce back into %s (one line, mode 0600, owned by the agent's user), "+
			"or let this instance register again: %s (with a token that may delete that path); the next login then registers the nonce now in %s. "+
			"Without either, Vault refuses this instance until the entry expires (the longest max TTL, 32 days by default, plus tidy's 72h buffer)",
			a.NonceFile, resetEntry, a.NonceFile)
	case strings.Contains(msg, "reauthentication is disabled"):
		r.Cause = fmt.Sprintf("instance %s already logged in once, and its role (disallow_reauthentication=true) or its first login (an empty nonce) allows no second login", id)
		r.Fix = fmt.Sprintf("set disallow_reauthentication=false on auth/%s/role/%s, then %s", a.Mount, roleOrAMI(a), resetEntry)
	case strings.Contains(msg, "instance meta-data is older than the one used for previous login"):
		r.Cause = fmt.Sprintf("the identity document's pendingTime (%s) is older than the one of instance %s's previous login: the document is stale or the instance was restored", a.Doc.PendingTime, id)
		r.Fix = resetEntry
	case strings.Contains(msg, "client nonce missing in stored identity"):
		r.Cause = fmt.Sprintf("Vault's identity access list entry for instance %s has no nonce", id)
		r.Fix = resetEntry
	case strings.Contains(msg, "client nonce exceeding the limit"):
		r.Cause = fmt.Sprintf("the nonce in %s is longer than Vault's limit of 128 characters", a.NonceFile)
		r.Fix = fmt.Sprintf("remove %s (the agent makes a new one) and %s", a.NonceFile, resetEntry)
	case reEC2NotAllowed().MatchString(msg):
		m := reEC2NotAllowed().FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("role %q has auth_type=iam and refuses ec2 logins", m[1])
		r.Fix = "use a role with auth_type=ec2, or the iam auth type (type = \"iam\")"
	case reEC2Bound().MatchString(msg):
		m := reEC2Bound().FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("instance %s is not bound to role %q: its %s is %q, which the role's %s does not allow", id, m[3], m[1], m[2], ec2Binds[m[1]])
		r.Fix = fmt.Sprintf("use a role that binds this instance, or add the value to %s of auth/%s/role/%s (an ARN bind matches a prefix when it ends in *)", ec2Binds[m[1]], a.Mount, m[3])
	case reEC2Region().MatchString(msg):
		m := reEC2Region().FindStringSubmatch(msg)
		r.Cause = fmt.Sprintf("instance %s is in region %q, which role %q's bound_region does not allow", id, m[1], m[2])
		r.Fix = fmt.Sprintf("use a role for this region, or add it to bound_region of auth/%s/role/%s", a.Mount, m[2])
	case strings.Contains(msg, "failed to verify instance ID"):
		r.Cause = fmt.Sprintf("Vault could not confirm with ec2:DescribeInstances that instance %s runs in account %s, region %s", id, a.Doc.AccountID, a.Doc.Region)
		r.Fix = fmt.Sprintf("check Vault's AWS access for that account: auth/%s/config/client (credentials allowed ec2:DescribeInstances, endpoint) and, for another account, auth/%s/config/sts/%s", a.Mount, a.Mount, a.Doc.AccountID)
	case strings.Contains(msg, "failed to verify the signature"), strings.Contains(msg, "PKCS#7"), strings.Contains(msg, "pkcs7"),
		strings.Contains(msg, "SHA256 RSA"), strings.Contains(msg, "certificates to verify the signature"):
		r.Cause = fmt.Sprintf("Vault could not verify the instance identity document's signature (signature = %q)", a.Signature)
		r.Fix = fmt.Sprintf("use signature = \"rsa2048\" (Vault 1.12+ verifies the others only with the right certificates); for a region whose AWS certificate Vault does not ship (opt-in regions, GovCloud, China), register it: vault write auth/%s/config/certificate/<name> aws_public_cert=<base64 PEM> type=pkcs7 (identity for signature = \"identity\")", a.Mount)
	default:
		if status >= 500 {
			return nil
		}
		diagnoseCommon(r, msg, a.Mount)
		if r.Cause != "" && a.Role == "" && reRoleNotFound().MatchString(msg) {
			r.Cause += fmt.Sprintf(" (no role was sent, so Vault looked for one named after the AMI ID %s)", a.Doc.ImageID)
			r.Fix = "set role in the auth block (or --role); " + r.Fix
		}
	}
	if status >= 500 && r.Cause == "" {
		return nil
	}
	return r
}

// roleOrAMI is the role Vault used: the one sent, or the AMI ID.
func roleOrAMI(a EC2Attempt) string {
	if a.Role != "" {
		return a.Role
	}
	return a.Doc.ImageID
}
