package diagnose

import (
	"fmt"
	"slices"
	"strings"
)

// Principal is an IAM ARN taken apart the way Vault's aws auth method does
// (parseIamArn in builtin/credential/aws/path_login.go).
type Principal struct {
	Partition string // aws, aws-cn, aws-us-gov
	Account   string
	Type      string // user, role, instance-profile, assumed-role
	Path      string // "" or "team" for role/team/name; always "" for assumed-role
	Name      string // the friendly name: user or role name
	Session   string // assumed-role only
}

// ParsePrincipal parses an IAM or STS ARN as Vault does: six colon-separated
// parts, service iam or sts, and a resource of at least two slash-separated
// parts (three for assumed-role).
func ParsePrincipal(arn string) (Principal, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" {
		return Principal{}, fmt.Errorf("%q is not an ARN (arn:partition:service::account:resource)", arn)
	}
	if parts[2] != "iam" && parts[2] != "sts" {
		return Principal{}, fmt.Errorf("%q: service %q is neither iam nor sts", arn, parts[2])
	}
	p := Principal{Partition: parts[1], Account: parts[4]}
	res := strings.Split(parts[5], "/")
	if len(res) < 2 {
		return Principal{}, fmt.Errorf("%q: resource %q has no type/name", arn, parts[5])
	}
	p.Type = res[0]
	p.Path = strings.Join(res[1:len(res)-1], "/")
	p.Name = res[len(res)-1]
	switch p.Type {
	case "assumed-role":
		if len(res) < 3 {
			return Principal{}, fmt.Errorf("%q: assumed-role ARN without a session name", arn)
		}
		p.Path, p.Name, p.Session = "", res[1], res[2]
	case "user", "role", "instance-profile":
	default:
		return Principal{}, fmt.Errorf("%q: principal type %q is not one Vault knows", arn, p.Type)
	}
	return p, nil
}

// Canonical is the ARN Vault binds exact (non-wildcard) patterns against when
// resolve_aws_unique_ids is false: assumed-role becomes role, and the path is
// dropped.
func (p Principal) Canonical() string {
	typ := p.Type
	if typ == "assumed-role" {
		typ = "role"
	}
	return fmt.Sprintf("arn:%s:iam::%s:%s/%s", p.Partition, p.Account, typ, p.Name)
}

// Binding is what a Vault role binds IAM principals with
// (auth/<mount>/role/<name>).
type Binding struct {
	ARNs             []string // bound_iam_principal_arn
	IDs              []string // bound_iam_principal_id: unique IDs Vault resolved the exact ARNs to when the role was written
	ResolveUniqueIDs bool     // resolve_aws_unique_ids
}

// Caller is the principal logging in, as Vault sees it.
type Caller struct {
	UniqueID  string // GetCallerIdentity's UserId up to the first ':' (AROA..., AIDA...); "" when unknown
	Canonical string // e.g. arn:aws:iam::222222222222:role/vault-secondary-x
	FullARN   string // from iam:GetRole/GetUser, with the path; "" when unknown
}

// PatternVerdict says whether one bound pattern admits the caller, and why.
type PatternVerdict struct {
	Pattern string `json:"pattern"`
	Match   bool   `json:"match"`
	Why     string `json:"why"`
}

// BindVerdict is the outcome of Vault's binding check for one caller.
type BindVerdict struct {
	Match bool   `json:"match"`
	By    string `json:"by,omitempty"` // which of Vault's three checks admitted the caller
	// Approximate is set when a wildcard decided the outcome but the full
	// ARN was unknown: the canonical ARN (without a path) stood in for it.
	Approximate bool             `json:"approximate,omitempty"`
	Patterns    []PatternVerdict `json:"patterns"`
}

// CheckBinding runs Vault's binding check for an IAM login (the
// bound_iam_principal_arn block of pathLoginUpdateIam, Vault v1.21.4) and
// explains each pattern. Vault admits the caller when any of these holds:
//
//  1. its unique ID is among IDs (resolved from the exact ARNs when the role
//     was written, only with resolve_aws_unique_ids);
//  2. resolve_aws_unique_ids is false and an exact pattern equals the
//     canonical ARN (which has no path);
//  3. a pattern ending in '*' matches the full ARN from iam:GetRole, which
//     keeps the path. Only a trailing '*' makes a wildcard: it is a prefix
//     match, or a substring match when the pattern also starts with '*'; any
//     other '*' is literal.
//
// An empty ARNs list binds nothing and admits the caller (the role then
// binds through inference, which this does not check).
func CheckBinding(b Binding, c Caller) BindVerdict {
	v := BindVerdict{Patterns: make([]PatternVerdict, 0, len(b.ARNs))}
	if len(b.ARNs) == 0 {
		v.Match, v.By = true, "no bound_iam_principal_arn on the role"
		return v
	}
	full := c.FullARN
	if full == "" {
		full = c.Canonical
	}
	ids := exactIDs(b)
	wildcard := false
	for i, p := range b.ARNs {
		if strings.HasSuffix(p, "*") {
			wildcard = true
			v.Patterns = append(v.Patterns, wildcardVerdict(p, c, full))
			continue
		}
		v.Patterns = append(v.Patterns, exactVerdict(p, ids[i], b, c))
	}
	switch {
	case c.UniqueID != "" && slices.Contains(b.IDs, c.UniqueID):
		v.Match, v.By = true, fmt.Sprintf("unique ID %s is in bound_iam_principal_id", c.UniqueID)
	case !b.ResolveUniqueIDs && slices.Contains(b.ARNs, c.Canonical):
		v.Match, v.By = true, "canonical ARN "+c.Canonical+" is bound exactly"
	case wildcard:
		for _, pv := range v.Patterns {
			if pv.Match && strings.HasSuffix(pv.Pattern, "*") {
				v.Match, v.By = true, fmt.Sprintf("wildcard %s matches %s", pv.Pattern, full)
				break
			}
		}
		v.Approximate = c.FullARN == ""
	}
	return v
}

// exactIDs pairs each exact pattern with the unique ID Vault resolved it to.
// Vault appends one ID per exact pattern, in order, when it resolves them; if
// the counts disagree (the role was written with resolution off, then
// switched on) the pairing is unknown and every entry is "".
func exactIDs(b Binding) []string {
	out := make([]string, len(b.ARNs))
	var exact []int
	for i, p := range b.ARNs {
		if !strings.HasSuffix(p, "*") {
			exact = append(exact, i)
		}
	}
	if !b.ResolveUniqueIDs || len(exact) != len(b.IDs) {
		return out
	}
	for n, i := range exact {
		out[i] = b.IDs[n]
	}
	return out
}

func exactVerdict(p, id string, b Binding, c Caller) PatternVerdict {
	v := PatternVerdict{Pattern: p}
	same := samePrincipal(p, c.Canonical)
	if b.ResolveUniqueIDs {
		switch {
		case id == "":
			v.Why = "exact pattern: with resolve_aws_unique_ids=true Vault compares unique IDs (bound_iam_principal_id), not ARNs"
			v.Match = c.UniqueID != "" && slices.Contains(b.IDs, c.UniqueID) && same
		case c.UniqueID == "":
			v.Why = fmt.Sprintf("resolved to unique ID %s when the role was written; this caller's unique ID is unknown", id)
			v.Match = same
		case id == c.UniqueID:
			v.Match = true
			v.Why = fmt.Sprintf("resolved to unique ID %s when the role was written, which is this caller's", id)
		case same:
			v.Why = fmt.Sprintf("names this principal, but Vault resolved it to unique ID %s when the role was written and the caller's is %s: "+
				"the IAM role was deleted and re-created since; write the Vault role again so Vault resolves the new ID", id, c.UniqueID)
		default:
			v.Why = fmt.Sprintf("names another principal (unique ID %s; the caller is %s, %s)", id, c.Canonical, c.UniqueID)
		}
		return v
	}
	switch {
	case p == c.Canonical:
		v.Match, v.Why = true, "equals the canonical ARN"
	case c.FullARN != "" && p == c.FullARN:
		v.Why = fmt.Sprintf("is the full ARN with its IAM path, but with resolve_aws_unique_ids=false Vault compares exact patterns with the canonical ARN, which drops the path: bind %s", c.Canonical)
	case strings.Contains(p, "*"):
		v.Why = "only a trailing * is a wildcard: the * here is compared literally"
	case strings.EqualFold(p, c.Canonical):
		v.Why = fmt.Sprintf("differs from %s only in case, and Vault compares case-sensitively", c.Canonical)
	default:
		v.Why = fmt.Sprintf("is not %s (exact patterns must equal the canonical ARN)", c.Canonical)
	}
	return v
}

func wildcardVerdict(p string, c Caller, full string) PatternVerdict {
	v := PatternVerdict{Pattern: p, Match: globbedMatch(p, full)}
	target := "the full ARN " + full
	if c.FullARN == "" {
		target = "the canonical ARN " + full + " (the full ARN, with any IAM path, is unknown: iam:GetRole failed)"
	}
	if v.Match {
		v.Why = "matches " + target
		return v
	}
	body := p[:len(p)-1]
	switch {
	case len(p) < 2:
		v.Why = "a lone * matches nothing in Vault (it compares a one-character pattern exactly): bind arn:aws:iam::ACCOUNT:role/* instead"
	case c.FullARN != "" && c.FullARN != c.Canonical && globbedMatch(p, c.Canonical):
		v.Why = fmt.Sprintf("matches the ARN without its IAM path (%s), but Vault matches wildcards against the full ARN from iam:GetRole, %s, which keeps the path: bind %s*",
			c.Canonical, c.FullARN, c.FullARN)
	case strings.Contains(strings.TrimPrefix(body, "*"), "*"):
		v.Why = fmt.Sprintf("does not match %s: only a trailing * is a wildcard (and a leading one, together with it); the other * is compared literally", target)
	case globbedMatch(strings.ToLower(p), strings.ToLower(full)):
		v.Why = fmt.Sprintf("differs from %s only in case, and Vault compares case-sensitively", target)
	case otherAccount(p, full):
		v.Why = fmt.Sprintf("is for another account than %s", target)
	case strings.HasPrefix(p, "*"):
		v.Why = fmt.Sprintf("%s does not contain %q", target, strings.Trim(p, "*"))
	default:
		v.Why = fmt.Sprintf("%s does not start with %q", target, body)
	}
	return v
}

// globbedMatch mirrors go-secure-stdlib strutil.GlobbedStringsMatch, which
// Vault applies to patterns ending in '*'.
func globbedMatch(item, val string) bool {
	if len(item) < 2 {
		return val == item
	}
	pre, suf := strings.HasPrefix(item, "*"), strings.HasSuffix(item, "*")
	switch {
	case pre && suf:
		return strings.Contains(val, item[1:len(item)-1])
	case pre:
		return strings.HasSuffix(val, item[1:])
	case suf:
		return strings.HasPrefix(val, item[:len(item)-1])
	}
	return val == item
}

// samePrincipal says whether an exact pattern names the caller: same
// partition, account, type and name, whatever the path.
func samePrincipal(pattern, canonical string) bool {
	p, err := ParsePrincipal(pattern)
	if err != nil {
		return false
	}
	return p.Canonical() == canonical
}

// otherAccount says whether a pattern names an account other than the ARN's.
func otherAccount(pattern, arn string) bool {
	pp, ap := strings.Split(pattern, ":"), strings.Split(arn, ":")
	return len(pp) >= 5 && len(ap) >= 5 && !strings.Contains(pp[4], "*") && pp[4] != ap[4]
}
