package vault

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/vault/api"
)

// redacted replaces each secret Redact removes.
const redacted = "[redacted]"

// maxErrorBody bounds the error answer kept from Vault (or from what
// answers in its place); the rest is dropped.
const maxErrorBody = 64 << 10

// minSecret is the shortest request value Redact looks for: shorter ones
// ("POST", a short role) match ordinary words.
const minSecret = 8

// patterns are Redact's regular expressions, compiled when first needed:
// only error answers are redacted, and compiled at start they would stay in
// the daemon's memory for good (longBlob's repetition alone compiles to a
// hundred instructions of each kind).
var patterns = sync.OnceValue(func() (p struct{ secretHeader, sigv4Part, tokenShape, longBlob *regexp.Regexp }) {
	// secretHeader matches a header that carries a credential, as a dump,
	// a JSON map, Go's %v of an http.Header or a query string writes it;
	// group 1 is the name and separator, group 2 the value.
	p.secretHeader = regexp.MustCompile(`(?i)(\b(?:x-vault-token|authorization|x-amz-security-token|x-amz-signature|x-amz-credential)"?\s*[:=]\s*\[?\s*"?)([^"\r\n\]]*)`)
	// sigv4Part matches the signature and credential of a SigV4
	// Authorization value met outside its header.
	p.sigv4Part = regexp.MustCompile(`\b(Signature|Credential)=[^\s,"&]+`)
	// tokenShape matches Vault tokens: hvs./hvb./hvr. (Vault 1.10+) and the
	// older s./b. service and batch tokens.
	p.tokenShape = regexp.MustCompile(`\bhv[sbr]\.[A-Za-z0-9_-]{20,}|\b[sb]\.[A-Za-z0-9]{20,}`)
	// longBlob matches base64 (or base64url, or hex) runs too long to be
	// words: an AWS session token, a signed request's headers, a PKCS#7
	// document. ARNs and paths break on ':' or are shorter.
	p.longBlob = regexp.MustCompile(`[A-Za-z0-9+/_-]{100,}={0,2}`)
	return p
})

// nonSecretFields are login body fields whose values Redact leaves alone:
// Vault's messages name them (the role), and they are no credential.
var nonSecretFields = []string{"role", "iam_http_request_method", "iam_request_url"}

// Redact removes from text, which a server sent back, every secret a
// request may have carried: the values in secrets (the token sent, the
// login body's fields), Vault tokens by their shape, the values of the
// X-Vault-Token, Authorization and X-Amz-Security-Token headers (and the
// X-Amz-Signature and X-Amz-Credential query parameters) in any of the
// forms they get echoed in, a SigV4 signature, and runs of base64 or hex
// long enough to be a session token, a signed header set or a signed
// document. What Vault says about a refusal (the role, the ARN it saw, the
// header value it expected) stays.
func Redact(text string, secrets ...string) string {
	p := patterns()
	text = p.secretHeader.ReplaceAllString(text, "${1}"+redacted)
	text = p.sigv4Part.ReplaceAllString(text, "${1}="+redacted)
	text = p.tokenShape.ReplaceAllString(text, redacted)
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) }) // longest first
	for _, s := range secrets {
		if len(s) < minSecret {
			continue
		}
		text = strings.ReplaceAll(text, s, redacted)
		if esc := strings.ReplaceAll(s, "/", `\/`); esc != s { // JSON written with escaped slashes
			text = strings.ReplaceAll(text, esc, redacted)
		}
	}
	return p.longBlob.ReplaceAllString(text, redacted)
}

// redactErrorBody is the response callback of every Vault client
// (NewClient). vault/api runs it before it turns an error answer into
// an *api.ResponseError, so the body it reads, and every error, log line
// and diagnosis made from it (login, renewal, revocation, diagnose's
// calls), is redacted here, in one place: a server or proxy that echoes
// the request cannot hand the token, the signed login headers or the
// request body back into our output. The body is also cut to maxErrorBody.
func redactErrorBody(r *api.Response) {
	if r == nil || r.Response == nil || r.Body == nil {
		return
	}
	ok := r.StatusCode >= 200 && r.StatusCode < 400
	if health := r.StatusCode == http.StatusTooManyRequests && r.Request != nil && r.Request.URL.Path == "/v1/sys/health"; ok || health {
		return // what vault/api does not treat as an error
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody+1))
	r.Body.Close()
	text := string(body)
	if len(body) > maxErrorBody {
		text = text[:maxErrorBody] + " [cut]"
	}
	text = Redact(text, requestSecrets(r.Request)...)
	r.Body = io.NopCloser(strings.NewReader(text))
	r.ContentLength = int64(len(text))
}

// requestSecrets lists what req carried that must not come back: its
// X-Vault-Token, and every field of its JSON body but nonSecretFields,
// with, for fields in base64, the decoded text and the credential headers
// of a signed request's header set.
func requestSecrets(req *http.Request) []string {
	if req == nil {
		return nil
	}
	var out []string
	if tok := req.Header.Get(api.AuthHeaderName); tok != "" {
		out = append(out, tok)
	}
	if req.GetBody == nil {
		return out
	}
	rc, err := req.GetBody()
	if err != nil {
		return out
	}
	defer rc.Close()
	var fields map[string]any
	if json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&fields) != nil {
		return out
	}
	for k, v := range fields {
		s, ok := v.(string)
		if !ok || slices.Contains(nonSecretFields, k) {
			continue
		}
		out = append(out, s)
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			continue
		}
		out = append(out, string(raw))
		var headers map[string][]string
		if json.Unmarshal(raw, &headers) != nil {
			continue
		}
		for name, vals := range headers {
			if n := http.CanonicalHeaderKey(name); n == "Authorization" || n == "X-Amz-Security-Token" {
				out = append(out, vals...)
			}
		}
	}
	return out
}
