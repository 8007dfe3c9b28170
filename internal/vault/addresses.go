package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/backoff"
)

// Log field names.
const (
	fieldAddress  = "vault_address"
	fieldCooldown = "cooldown"
	fieldError    = "error"
	fieldPath     = "path"
)

// The states of an address in AddressStatus.
const (
	AddressUnknown = "unknown" // not asked yet
	AddressUp      = "up"      // it answered, other than with a 5xx or "sealed"
	AddressDown    = "down"    // it refused the connection, did not answer, answered 5xx or said it is sealed
)

// Selector sends each request to one of several Vault addresses: the
// first, in the configured order, that is not marked down. A request that
// gets no answer (connection refused, timeout), a 5xx answer (a sealed
// node answers 503) or an answer that says Vault is sealed marks its
// address down. The request is not sent again: the lifecycle's backoff
// decides when the next attempt is made, and that attempt goes to the
// next address. A down address is eligible again after a cool-down that
// starts at twice the lifecycle's min_backoff (so the first retry never
// lands on it again) and doubles with each failure in a row, up to
// max_backoff; so the agent comes back to an earlier address once it
// answers again. When every address is down, the one whose cool-down ends
// first is asked. Any other answer (a refusal too) marks its address up.
// With one address, every request goes to it.
//
// A Selector is the http.RoundTripper of the clients NewClient makes: it
// changes the scheme and host of each request made to the client's own
// address (the first) and passes redirects elsewhere through unchanged.
// TLS settings are the transport's, so tls_server_name applies to every
// address. Safe for concurrent use.
type Selector struct {
	next     http.RoundTripper
	base     *url.URL // the address the vault/api client builds its requests on: the first
	min, max time.Duration
	log      *zap.Logger

	mu    sync.Mutex
	addrs []*address
}

// address is one Vault address and what the Selector knows of it.
type address struct {
	url     *url.URL
	state   string
	since   time.Time // when state last changed; zero while unknown
	lastErr string    // why it was last marked down
	fails   int       // consecutive failures
	retryAt time.Time // a down address is not tried before this, unless every address is down
}

// AddressStatus is one address's line in the local API's /v1/status.
type AddressStatus struct {
	Address   string    `json:"address"`
	State     string    `json:"state"` // AddressUnknown, AddressUp or AddressDown
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since,omitzero"`
}

// NewSelector makes a Selector over addrs, which must be http or https
// URLs (the config checks them), sending through next. minCool and
// maxCool are the lifecycle's min_backoff and max_backoff (0: backoff's
// defaults). It logs each address marked down, and each that answers
// again, to log (nil: nowhere).
func NewSelector(addrs []string, minCool, maxCool time.Duration, next http.RoundTripper, log *zap.Logger) (*Selector, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no vault address: set vault.address")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if minCool <= 0 {
		minCool = backoff.DefaultMin
	}
	if maxCool <= 0 {
		maxCool = backoff.DefaultMax
	}
	s := &Selector{next: next, min: minCool, max: max(maxCool, minCool), log: log}
	for _, a := range addrs {
		u, err := url.Parse(a)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("vault address %q is not an http or https URL with a host", a)
		}
		s.addrs = append(s.addrs, &address{url: u, state: AddressUnknown})
	}
	s.base = s.addrs[0].url
	return s, nil
}

// SelectorOf returns the Selector of a client NewClient made (or of a
// clone of one), or nil.
func SelectorOf(c *api.Client) *Selector {
	if c == nil {
		return nil
	}
	s, _ := c.CloneConfig().HttpClient.Transport.(*Selector)
	return s
}

// Status is each address's state, in the configured order.
func (s *Selector) Status() []AddressStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AddressStatus, len(s.addrs))
	for i, a := range s.addrs {
		out[i] = AddressStatus{Address: a.url.String(), State: a.state, LastError: a.lastErr, Since: a.since}
	}
	return out
}

// Current is the address the next request goes to: the first not marked
// down (when every one is, the one whose cool-down ends first).
func (s *Selector) Current() string { return s.pick(time.Now()).url.String() }

// RoundTrip sends r to the address pick chooses and marks that address
// by the outcome.
func (s *Selector) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != s.base.Scheme || r.URL.Host != s.base.Host {
		return s.next.RoundTrip(r) // a redirect Vault sent: it names its own target
	}
	a := s.pick(time.Now())
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host = a.url.Scheme, a.url.Host, a.url.Host
	if a.url.Path != s.base.Path {
		out.URL.Path = a.url.Path + strings.TrimPrefix(r.URL.Path, s.base.Path)
		out.URL.RawPath = ""
	}
	s.log.Debug("vault request", zap.String(fieldAddress, a.url.String()), zap.String(fieldPath, r.URL.Path))
	resp, err := s.next.RoundTrip(out)
	switch {
	case err != nil:
		if r.Context().Err() == nil { // not given up by the caller
			s.mark(a, err.Error(), time.Now())
		}
		if a.url != s.base { // the client's error names the first address
			err = fmt.Errorf("sent to %s: %w", a.url, err)
		}
		return nil, err
	case resp.StatusCode >= 400:
		why, errs := answerError(resp, out)
		if resp.StatusCode < 500 && !saysSealed(errs) {
			why = "" // a refusal: the node answers
		}
		s.mark(a, why, time.Now())
	default:
		s.mark(a, "", time.Now())
	}
	return resp, nil
}

// pick returns the first address not cooling down; when every one is,
// the one whose cool-down ends first.
func (s *Selector) pick(now time.Time) *address {
	s.mu.Lock()
	defer s.mu.Unlock()
	soonest := s.addrs[0]
	for _, a := range s.addrs {
		if !now.Before(a.retryAt) {
			return a
		}
		if a.retryAt.Before(soonest.retryAt) {
			soonest = a
		}
	}
	return soonest
}

// mark records an answer (why == "") or a failure of a.
func (s *Selector) mark(a *address, why string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	state := AddressUp
	if why != "" {
		state = AddressDown
		a.fails++
		cool := s.cooldown(a.fails)
		a.retryAt = now.Add(cool)
		a.lastErr = why
		s.log.Warn("vault address marked down", zap.String(fieldAddress, a.url.String()),
			zap.Duration(fieldCooldown, cool), zap.String(fieldError, why))
	} else {
		a.fails, a.retryAt = 0, time.Time{}
		if a.state != AddressUp {
			s.log.Info("vault address answers", zap.String(fieldAddress, a.url.String()))
		}
	}
	if a.state != state {
		a.state, a.since = state, now
	}
}

// cooldown is how long an address that failed fails times in a row is
// passed over: twice min, doubled per failure after the first, at most max.
func (s *Selector) cooldown(fails int) time.Duration {
	d := 2 * s.min
	for i := 1; i < fails && d < s.max; i++ {
		d *= 2
	}
	return min(d, s.max)
}

// answerError describes an error answer for AddressStatus: its status and
// Vault's messages (redacted: a message may echo what was sent), e.g.
// "HTTP 503: Vault is sealed", and returns those messages. The body is
// left for the caller to read.
func answerError(resp *http.Response, sent *http.Request) (string, []string) {
	msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	var body struct {
		Errors []string `json:"errors"`
	}
	if err == nil && json.Unmarshal(b, &body) == nil && len(body.Errors) > 0 {
		msg += ": " + Redact(strings.Join(body.Errors, "; "), requestSecrets(sent)...)
	}
	return msg, body.Errors
}

// saysSealed reports whether Vault's error messages say the node is
// sealed. Vault answers so with a 503; a proxy in front of it may not.
func saysSealed(errs []string) bool {
	return slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(strings.ToLower(e), "vault is sealed") })
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}
