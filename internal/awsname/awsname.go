// Package awsname knows AWS's names and endpoints as the agent needs them: region names, the
// region an STS host takes signatures for, the STS and IAM endpoints of a region or partition,
// and what sts:AssumeRole takes as a role ARN, a role session name and an external ID (the
// AssumeRole API reference). internal/config checks settings with it, and diagnose compares
// the agent's signing region with the STS endpoint Vault forwards to.
package awsname

import "strings"

// GlobalSTSHost is the host of STS's global endpoint, which takes only us-east-1 signatures,
// and GlobalSTSEndpoint its URL: the default of the agent's sts_endpoint and of Vault's.
const (
	GlobalSTSHost     = "sts.amazonaws.com"
	GlobalSTSEndpoint = "https://" + GlobalSTSHost
)

// IsRegion says whether s has the shape of an AWS region name: us-east-1, eu-central-2,
// us-gov-west-1, cn-north-1 (two letters, one or more words, a number, joined by "-").
func IsRegion(s string) bool {
	parts := strings.Split(s, "-")
	n := len(parts)
	if n < 3 || len(parts[0]) != 2 || parts[n-1] == "" || !onlyChars(parts[n-1], "", false) {
		return false
	}
	for _, w := range parts[:n-1] {
		if !lowerOf(w, "") {
			return false
		}
	}
	return true
}

// STSHostRegion returns the only region an AWS STS host accepts signatures for: us-east-1 for
// the global endpoint; the named region for a regional or FIPS endpoint
// (sts.eu-west-1.amazonaws.com, sts-fips.us-east-2.amazonaws.com, sts.cn-north-1.amazonaws.com.cn)
// or an interface VPC endpoint (vpce-0a1b-c2d3.sts.eu-west-1.vpce.amazonaws.com). ok is false
// for any other host.
func STSHostRegion(host string) (region string, ok bool) {
	host = strings.ToLower(host)
	if host == GlobalSTSHost {
		return "us-east-1", true
	}
	rest, found := strings.CutSuffix(host, ".amazonaws.com.cn")
	if !found {
		if rest, found = strings.CutSuffix(host, ".amazonaws.com"); !found {
			return "", false
		}
	}
	rest = strings.TrimSuffix(rest, ".vpce")
	labels := strings.Split(rest, ".")
	n := len(labels)
	if n < 2 || n > 3 || (labels[n-2] != "sts" && labels[n-2] != "sts-fips") || !IsRegion(labels[n-1]) ||
		(n == 3 && !lowerOf(labels[0], "0123456789-")) {
		return "", false
	}
	return labels[n-1], true
}

// STSEndpoint is the STS endpoint Vault Agent sends a login signed for region to: the global
// one for us-east-1, else the region's own.
func STSEndpoint(region string) string {
	switch {
	case region == "us-east-1":
		return GlobalSTSEndpoint
	case strings.HasPrefix(region, "cn-"):
		return "https://sts." + region + ".amazonaws.com.cn"
	}
	return "https://sts." + region + ".amazonaws.com"
}

// IAMEndpoint is IAM's global endpoint and signing region in a partition.
func IAMEndpoint(partition string) (endpoint, region string) {
	switch partition {
	case "aws-cn":
		return "https://iam.cn-north-1.amazonaws.com.cn/", "cn-north-1"
	case "aws-us-gov":
		return "https://iam.us-gov.amazonaws.com/", "us-gov-west-1"
	}
	return "https://iam.amazonaws.com/", "us-east-1"
}

// STS's limits on what sts:AssumeRole takes. Names here are checked without regular
// expressions: a compiled one would stay in the daemon's memory for a check made once.
const (
	roleNameChars    = "_+=,.@-"   // besides letters and digits, in a role name and a role session name
	externalIDChars  = "_+=,.@:/-" // besides letters and digits, in an external ID
	maxRoleNameLen   = 64
	maxSessionLen    = 64
	maxExternalIDLen = 1224
)

// IsRoleARN says whether s is an IAM role ARN: arn:<partition>:iam::<12 digits>:role/, an
// optional path of printable ASCII ending in "/", and a name of 1 to 64 characters.
func IsRoleARN(s string) bool {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "iam" || parts[3] != "" ||
		len(parts[4]) != 12 || !onlyChars(parts[4], "", false) {
		return false
	}
	res, ok := strings.CutPrefix(parts[5], "role/")
	if !ok {
		return false
	}
	i := strings.LastIndexByte(res, '/')
	path, name := res[:i+1], res[i+1:]
	for _, c := range path {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return len(name) >= 1 && len(name) <= maxRoleNameLen && onlyChars(name, roleNameChars, true)
}

// IsRoleSessionName says whether STS takes s as a role session name: 2 to 64 characters of
// letters, digits and _+=,.@-.
func IsRoleSessionName(s string) bool {
	return len(s) >= 2 && len(s) <= maxSessionLen && onlyChars(s, roleNameChars, true)
}

// IsExternalID says whether STS takes s as an external ID: 2 to 1224 characters of letters,
// digits and _+=,.@:/-.
func IsExternalID(s string) bool {
	return len(s) >= 2 && len(s) <= maxExternalIDLen && onlyChars(s, externalIDChars, true)
}

// lowerOf says whether s is not empty and has only the letters a-z and the characters of extra.
func lowerOf(s, extra string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && !strings.ContainsRune(extra, c) {
			return false
		}
	}
	return s != ""
}

// onlyChars says whether s has only digits, the characters of extra, and, with letters, ASCII
// letters.
func onlyChars(s, extra string, letters bool) bool {
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9', letters && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'), strings.ContainsRune(extra, c):
		default:
			return false
		}
	}
	return true
}
