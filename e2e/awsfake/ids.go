package awsfake

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// MakeID returns a deterministic, realistic-looking AWS identifier derived
// from seed, so tests and the e2e stack can pick stable IDs:
//
//   - prefix "AKIA" or "ASIA" (access key IDs): 20 characters in all,
//     e.g. MakeID("AKIA", "vault-primary");
//   - a lower-case prefix ending in "-" (EC2 resource IDs such as "i-",
//     "ami-", "subnet-", "vpc-"): the prefix and 17 lower-case hex digits,
//     e.g. MakeID("i-", "client1") = "i-" + 17 hex digits;
//   - any other prefix (IAM unique IDs such as "AROA", "AIDA", "AIPA"):
//     21 characters in all, upper case, e.g. MakeID("AROA", roleARN).
//
// The same prefix and seed always give the same ID; different seeds give
// different IDs (barring SHA-256 collisions).
func MakeID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(prefix + "\x00" + seed))
	if strings.HasSuffix(prefix, "-") && prefix == strings.ToLower(prefix) {
		return prefix + hex.EncodeToString(sum[:])[:17]
	}
	total := 21
	if prefix == "AKIA" || prefix == "ASIA" {
		total = 20
	}
	n := total - len(prefix)
	if n < 8 {
		n = 8
	}
	enc := base32.StdEncoding.EncodeToString(sum[:]) // A-Z and 2-7, 52 characters
	return prefix + enc[:n]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("awsfake: crypto/rand: " + err.Error())
	}
	return b
}

// newTemporaryCredentials mints an ASIA access key ID (20 characters), a
// 40-character secret and a session token.
func newTemporaryCredentials() (akid, secret, token string) {
	akid = "ASIA" + base32.StdEncoding.EncodeToString(randomBytes(10)) // 16 characters
	secret = base64.StdEncoding.EncodeToString(randomBytes(30))        // 40 characters
	token = "FakeSessionToken/" + base64.StdEncoding.EncodeToString(randomBytes(120))
	return akid, secret, token
}

// newRequestID returns a random UUID-shaped request ID.
func newRequestID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// arn is a parsed ARN.
type arn struct {
	partition, service, region, account, resource string
}

func parseARN(s string) (arn, bool) {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[1] == "" || p[2] == "" || p[5] == "" {
		return arn{}, false
	}
	return arn{partition: p[1], service: p[2], region: p[3], account: p[4], resource: p[5]}, true
}

// resourceType is the part of the resource before the first '/'.
func (a arn) resourceType() string {
	t, _, _ := strings.Cut(a.resource, "/")
	return t
}

// nameAndPath splits "type/path/parts/name" into name and "/path/parts/".
func (a arn) nameAndPath() (name, path string) {
	_, rest, _ := strings.Cut(a.resource, "/")
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return rest, "/"
	}
	return rest[i+1:], "/" + rest[:i+1]
}

func roleARN(partition string, r Role) string {
	return fmt.Sprintf("arn:%s:iam::%s:role%s%s", partition, r.Account, r.Path, r.Name)
}
