package awsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigv4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	scopeDayFormat = "20060102"
)

// authHeader is a parsed SigV4 Authorization header.
type authHeader struct {
	accessKeyID string
	day         string // YYYYMMDD from the credential scope
	region      string
	service     string
	terminator  string
	signed      []string // signed header names as sent
	signature   string
}

func (a authHeader) scope() string {
	return a.day + "/" + a.region + "/" + a.service + "/" + a.terminator
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=AKID/DAY/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex".
func parseAuthorization(v string) (authHeader, *apiError) {
	var a authHeader
	v = strings.TrimSpace(v)
	alg, rest, _ := strings.Cut(v, " ")
	if alg != sigv4Algorithm {
		return a, errIncompleteSignature(fmt.Sprintf("Unsupported AWS 'algorithm': '%s'.", alg))
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return a, errIncompleteSignature(fmt.Sprintf("Authorization header requires each component to be of the form key=value: '%s'.", k))
		}
		fields[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if fields[k] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", k))
		}
	}
	if len(missing) > 0 {
		return a, errIncompleteSignature(strings.Join(missing, " "))
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[0] == "" {
		return a, errIncompleteSignature("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term.")
	}
	a.accessKeyID, a.day, a.region, a.service, a.terminator = cred[0], cred[1], cred[2], cred[3], cred[4]
	if a.terminator != "aws4_request" {
		return a, errSignature(fmt.Sprintf("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", a.terminator))
	}
	a.signed = strings.Split(fields["SignedHeaders"], ";")
	a.signature = fields["Signature"]
	return a, nil
}

// hostScope says which service and region an AWS host name implies. ok is
// false for hosts that are not recognisable AWS endpoints (such as the
// fake's own 127.0.0.1 address), which accept any region.
func hostScope(host string) (service, region string, ok bool) {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	const suffix = ".amazonaws.com"
	if !strings.HasSuffix(h, suffix) {
		return "", "", false
	}
	labels := strings.Split(strings.TrimSuffix(h, suffix), ".")
	switch len(labels) {
	case 1: // sts.amazonaws.com, iam.amazonaws.com, ec2.amazonaws.com
		switch labels[0] {
		case "sts", "iam", "ec2":
			return labels[0], "us-east-1", true
		}
	case 2: // sts.<region>.amazonaws.com, ec2.<region>.amazonaws.com
		switch labels[0] {
		case "sts", "ec2":
			if labels[1] != "" {
				return labels[0], labels[1], true
			}
		}
	}
	return "", "", false
}

// verifyInput is what the signature check needs from a request.
type verifyInput struct {
	r       *http.Request
	body    []byte
	auth    authHeader
	amzDate string
	secret  string
}

// canonicalRequest rebuilds the SigV4 canonical request of r. It returns
// the canonical URI too, for diagnostics.
func canonicalRequest(r *http.Request, signed []string, payloadHash string) (creq, canonURI string) {
	canonURI = canonicalURI(r.URL.EscapedPath())
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonURI)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery))
	b.WriteByte('\n')
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), canonURI
}

// canonicalURI normalises the escaped path the way AWS does for non-S3
// services (redundant slashes removed: Vault forwards "https://host/" as
// "//") and URI-encodes it once more, as SigV4 clients do for non-S3 services.
func canonicalURI(escapedPath string) string {
	var b strings.Builder
	prevSlash := false
	for i := 0; i < len(escapedPath); i++ {
		c := escapedPath[i]
		if c == '/' {
			if prevSlash {
				continue
			}
			prevSlash = true
		} else {
			prevSlash = false
		}
		b.WriteByte(c)
	}
	p := b.String()
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return uriEncode(p, false)
}

// canonicalQuery sorts the query parameters by name, then value, with both
// URI-encoded.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		pairs = append(pairs, kv{uriEncode(queryUnescape(k), true), uriEncode(queryUnescape(v), true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// uriEncode percent-encodes everything except the SigV4 unreserved
// characters (and '/' unless encodeSlash), with upper-case hex.
func uriEncode(s string, encodeSlash bool) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexdig[c>>4])
			b.WriteByte(hexdig[c&15])
		}
	}
	return b.String()
}

// canonicalHeaderValue is the trimmed, space-collapsed, comma-joined value
// of the named header as received.
func canonicalHeaderValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	default:
		vals = r.Header.Values(name)
		if len(vals) == 0 && name == "content-length" && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// signingKey derives the SigV4 signing key.
func signingKey(secret, day, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), day)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

// stringToSign builds the SigV4 string to sign.
func stringToSign(amzDate, scope, creq string) string {
	return sigv4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + sha256Hex([]byte(creq))
}

// checkSignature recomputes the signature of in.r and compares it with the
// one in the Authorization header.
func checkSignature(in verifyInput) *apiError {
	signed := make([]string, len(in.auth.signed))
	for i, h := range in.auth.signed {
		signed[i] = strings.ToLower(strings.TrimSpace(h))
	}
	sort.Strings(signed)
	hasHost := false
	for _, h := range signed {
		if h == "host" {
			hasHost = true
		}
	}
	if !hasHost {
		return errIncompleteSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}

	payloadHash := sha256Hex(in.body)
	if claimed := in.r.Header.Get("X-Amz-Content-Sha256"); claimed != "" {
		if !strings.EqualFold(claimed, payloadHash) {
			e := errSignature("The provided 'x-amz-content-sha256' header does not match what was computed.")
			return e
		}
		payloadHash = claimed
	}

	creq, canonURI := canonicalRequest(in.r, signed, payloadHash)
	sts := stringToSign(in.amzDate, in.auth.scope(), creq)
	key := signingKey(in.secret, in.auth.day, in.auth.region, in.auth.service)
	want := hex.EncodeToString(hmacSHA256(key, sts))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(in.auth.signature))) {
		e := errSignature("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
		e.detail = fmt.Sprintf("canonical URI %q, signed headers %q, host %q", canonURI, strings.Join(signed, ";"), in.r.Host)
		return e
	}
	return nil
}

// checkDate validates X-Amz-Date against the scope and the clock.
func checkDate(amzDate string, auth authHeader, now time.Time, maxSkew time.Duration) *apiError {
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return errIncompleteSignature(fmt.Sprintf("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", amzDate))
	}
	if day := t.Format(scopeDayFormat); day != auth.day {
		return errSignature(fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", auth.day, day, amzDate))
	}
	now = now.UTC()
	skew := skewText(maxSkew)
	if t.Before(now.Add(-maxSkew)) {
		return errSignature(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s)",
			amzDate, now.Add(-maxSkew).Format(amzDateFormat), now.Format(amzDateFormat), skew))
	}
	if t.After(now.Add(maxSkew)) {
		return errSignature(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s)",
			amzDate, now.Add(maxSkew).Format(amzDateFormat), now.Format(amzDateFormat), skew))
	}
	return nil
}

func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min.", d/time.Minute)
	}
	return d.String() + "."
}
