package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// RequestHeader must be sent with the value "true" on every request.
const RequestHeader = "X-Xauth-Request"

// ExpiresHeader carries the token's expiry (RFC 3339) on /v1/token.
const ExpiresHeader = "X-Xauth-Expires-At"

// API paths.
const (
	PathToken   = "/v1/token"
	PathHealth  = "/v1/health"
	PathStatus  = "/v1/status"
	PathMetrics = "/metrics"
)

// TokenInfo is /v1/token's JSON answer (Accept: application/json).
type TokenInfo struct {
	Token      string    `json:"token"`
	Accessor   string    `json:"accessor"`
	Policies   []string  `json:"policies"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"` // zero: the token does not expire
	Renewable  bool      `json:"renewable"`
	Generation uint64    `json:"generation"`
}

// Health is /v1/health's answer.
type Health struct {
	State      string `json:"state"`       // the lifecycle's state, e.g. "renewing"
	TokenState string `json:"token_state"` // "valid", "none" or "expired"
}

// Status is /v1/status's answer.
type Status struct {
	State       string       `json:"state"`
	TokenState  string       `json:"token_state"`
	Accessor    string       `json:"accessor,omitempty"`
	Policies    []string     `json:"policies,omitempty"`
	TTLLeft     int64        `json:"ttl_left"` // seconds; 0 without a valid token
	ExpiresAt   time.Time    `json:"expires_at,omitzero"`
	Renewable   bool         `json:"renewable"`
	Generation  uint64       `json:"generation"`
	NextRenewal time.Time    `json:"next_renewal,omitzero"`
	LastError   string       `json:"last_error,omitempty"`
	Sinks       []SinkStatus `json:"sinks"`
	// Vault is each Vault address, in the configured order: whether it
	// answers ("up", "down", or "unknown" before the first request to it).
	Vault   []vault.AddressStatus `json:"vault"`
	Version string                `json:"version"`
}

// SinkStatus is one sink's line in Status.
type SinkStatus struct {
	Name       string    `json:"name"`
	Generation uint64    `json:"generation"` // the fan-out's generation last written; 0 = none yet
	LastWrite  time.Time `json:"last_write,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
}

// handler serves the API for a Server.
type handler struct{ s *Server }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, onStart: func() { h.s.startWriting(w) }}
	p, ok := h.authorize(sw, r)
	if ok {
		h.route(sw, r, p)
	}
	h.s.log.Debug("request", zap.String(fieldMethod, r.Method), zap.String(fieldURLPath, r.URL.Path),
		zap.Int(fieldStatus, sw.status), zap.Uint32(fieldUID, p.UID), zap.Int32(fieldPID, p.PID),
		zap.Duration(fieldDuration, time.Since(start)))
}

// authorize checks the caller and the request header; false when it has
// answered already.
func (h *handler) authorize(w http.ResponseWriter, r *http.Request) (Peer, bool) {
	p, err := peerFrom(r.Context())
	if err != nil {
		if ok, n := h.s.denials.allow(math.MaxUint32, time.Now()); ok {
			h.s.log.Warn("refused a caller whose credentials cannot be read", zap.Error(err), zap.Int(fieldSuppressed, n))
		}
		w.Header().Set("Connection", "close")
		writeText(w, http.StatusForbidden, "forbidden: cannot read the caller's credentials")
		return p, false
	}
	if !h.s.policy.Load().allows(p) {
		if ok, n := h.s.denials.allow(p.UID, time.Now()); ok {
			h.s.log.Warn("refused a caller not in allow_uids or allow_gids", zap.Uint32(fieldUID, p.UID),
				zap.Uint32(fieldGID, p.GID), zap.Int32(fieldPID, p.PID), zap.Int(fieldSuppressed, n))
		}
		w.Header().Set("Connection", "close") // a refused caller keeps no idle connection
		writeText(w, http.StatusForbidden, "forbidden: uid "+strconv.FormatUint(uint64(p.UID), 10)+
			" may not use this socket; list the uid in allow_uids or one of its groups in allow_gids")
		return p, false
	}
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get(RequestHeader)), "true") {
		writeText(w, http.StatusBadRequest, "bad request: the header "+RequestHeader+": true is required")
		return p, false
	}
	return p, true
}

func (h *handler) route(w http.ResponseWriter, r *http.Request, p Peer) {
	var serve func(http.ResponseWriter, *http.Request, Peer)
	switch r.URL.Path {
	case PathToken:
		serve = h.token
	case PathHealth:
		serve = h.health
	case PathStatus:
		serve = h.status
	case PathMetrics:
		serve = func(w http.ResponseWriter, r *http.Request, _ Peer) { h.s.metrics.serve(w, r) }
	case PathLivez:
		serve = func(w http.ResponseWriter, r *http.Request, _ Peer) { h.s.probes.livez(w, r) }
	case PathReadyz:
		serve = func(w http.ResponseWriter, r *http.Request, _ Peer) { h.s.probes.readyz(w, r) }
	default:
		writeText(w, http.StatusNotFound, "not found: try "+PathToken+", "+PathHealth+", "+PathStatus+", "+PathLivez+", "+PathReadyz+" or "+PathMetrics)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeText(w, http.StatusMethodNotAllowed, "method not allowed: use GET")
		return
	}
	serve(w, r, p)
}

// token serves /v1/token, with the optional long-poll.
func (h *handler) token(w http.ResponseWriter, r *http.Request, p Peer) {
	wait, err := waitParam(r.URL.RawQuery)
	if err != nil {
		writeText(w, http.StatusBadRequest, "bad request: "+err.Error())
		return
	}
	inm := r.Header.Values("If-None-Match")
	sn, err := h.s.await(r.Context(), wait, func(sn snapshot, now time.Time) bool {
		return sn.tokenState(now) == tokenValid && !etagMatches(inm, sn.Generation)
	})
	if err != nil {
		h.unavailable(w, sn, err)
		return
	}
	now := time.Now()
	if ts := sn.tokenState(now); ts != tokenValid {
		h.unavailable(w, sn, errors.New("no valid token ("+ts+"), state "+sn.Step))
		return
	}
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("ETag", etag(sn.Generation))
	if !sn.Token.ExpiresAt.IsZero() {
		hd.Set(ExpiresHeader, sn.Token.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if etagMatches(inm, sn.Generation) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.s.log.Debug("token served", zap.String(fieldAccessor, sn.Token.Accessor), zap.Uint64(fieldGeneration, sn.Generation),
		zap.Uint32(fieldUID, p.UID), zap.Int32(fieldPID, p.PID))
	if acceptsJSON(r.Header.Values("Accept")) {
		writeJSON(w, http.StatusOK, tokenInfo(sn))
		return
	}
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(sn.Token.Token)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(sn.Token.Token))
}

func tokenInfo(sn snapshot) TokenInfo {
	pol := sn.Token.Policies
	if pol == nil {
		pol = []string{}
	}
	return TokenInfo{
		Token:      sn.Token.Token,
		Accessor:   sn.Token.Accessor,
		Policies:   pol,
		ExpiresAt:  rfc3339(sn.Token.ExpiresAt),
		Renewable:  sn.Token.Renewable,
		Generation: sn.Generation,
	}
}

// health serves /v1/health; ?wait= waits for health.
func (h *handler) health(w http.ResponseWriter, r *http.Request, _ Peer) {
	wait, err := waitParam(r.URL.RawQuery)
	if err != nil {
		writeText(w, http.StatusBadRequest, "bad request: "+err.Error())
		return
	}
	sn, err := h.s.await(r.Context(), wait, func(sn snapshot, now time.Time) bool {
		return sn.tokenState(now) == tokenValid
	})
	if err != nil {
		h.unavailable(w, sn, err)
		return
	}
	ts := sn.tokenState(time.Now())
	code := http.StatusOK
	if ts != tokenValid {
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", h.retryAfter(sn))
	}
	writeJSON(w, code, Health{State: sn.Step, TokenState: ts})
}

// status serves /v1/status.
func (h *handler) status(w http.ResponseWriter, _ *http.Request, _ Peer) {
	sn, _ := h.s.snapshot()
	writeJSON(w, http.StatusOK, h.s.statusOf(sn, time.Now()))
}

func (s *Server) statusOf(sn snapshot, now time.Time) Status {
	st := Status{
		State:       sn.Step,
		TokenState:  sn.tokenState(now),
		Accessor:    sn.Token.Accessor,
		Policies:    sn.Token.Policies,
		ExpiresAt:   rfc3339(sn.Token.ExpiresAt),
		Renewable:   sn.Token.Renewable,
		Generation:  sn.Generation,
		NextRenewal: rfc3339(sn.Next),
		LastError:   sn.redact(sn.lastError()),
		Sinks:       []SinkStatus{},
		Version:     s.version,
	}
	if st.TokenState == tokenValid && !sn.Token.ExpiresAt.IsZero() {
		st.TTLLeft = int64(sn.Token.ExpiresAt.Sub(now) / time.Second)
	}
	if s.statuses != nil {
		for _, ss := range s.statuses() {
			st.Sinks = append(st.Sinks, SinkStatus{Name: ss.Name, Generation: ss.Generation,
				LastWrite: rfc3339(ss.LastWrite), LastError: sn.redact(ss.LastError)})
		}
	}
	st.Vault = []vault.AddressStatus{}
	if s.vault != nil {
		for _, a := range s.vault() {
			a.LastError = sn.redact(a.LastError)
			st.Vault = append(st.Vault, a)
		}
	}
	// This socket holds each token as it arrives.
	st.Sinks = append(st.Sinks, SinkStatus{Name: s.Name(), Generation: sn.Generation, LastWrite: rfc3339(sn.Since)})
	return st
}

// errBusy: too many long-polls are parked.
var errBusy = errors.New("too many requests waiting")

// await returns the current snapshot at once if ready holds or wait is 0;
// else it waits until ready holds, or wait runs out (then it returns the
// snapshot of that moment and no error), or ctx ends (an error).
func (s *Server) await(ctx context.Context, wait time.Duration, ready func(snapshot, time.Time) bool) (snapshot, error) {
	sn, changed := s.snapshot()
	if wait <= 0 || ready(sn, time.Now()) {
		return sn, nil
	}
	if !s.park() {
		return sn, errBusy
	}
	defer s.unpark()
	if s.onParked != nil {
		s.onParked()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-changed:
		case <-t.C:
			sn, _ = s.snapshot()
			return sn, nil
		case <-ctx.Done():
			return sn, errors.New("the agent is stopping, or no longer allows this caller")
		}
		sn, changed = s.snapshot()
		if ready(sn, time.Now()) {
			return sn, nil
		}
	}
}

// unavailable answers 503 (429 for errBusy) with Retry-After.
func (h *handler) unavailable(w http.ResponseWriter, sn snapshot, err error) {
	w.Header().Set("Retry-After", h.retryAfter(sn))
	code := http.StatusServiceUnavailable
	if errors.Is(err, errBusy) {
		code = http.StatusTooManyRequests
	}
	writeText(w, code, "unavailable: "+err.Error())
}

// retryAfter is the Retry-After value in seconds: the time to the next
// scheduled login or renewal when known, between 1 and 30 seconds.
func (h *handler) retryAfter(sn snapshot) string {
	secs := 1
	if d := time.Until(sn.Next); d > 0 {
		secs = int(min((d+time.Second-1)/time.Second, 30))
	}
	return strconv.Itoa(secs)
}

// waitParam reads ?wait=: a Go duration ("60s", "5m") or whole seconds
// ("60"); "" is 0. Longer waits are cut to MaxWait.
func waitParam(rawQuery string) (time.Duration, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, errors.New("malformed query string")
	}
	v := q.Get("wait")
	if v == "" {
		return 0, nil
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		d = time.Duration(min(n, uint64(MaxWait/time.Second))) * time.Second
	} else if d, err = time.ParseDuration(v); err != nil || d < 0 {
		return 0, errors.New("wait=" + strconv.Quote(v) + ": give a duration such as 60s or 5m, or whole seconds")
	}
	return min(d, MaxWait), nil
}

func etag(gen uint64) string { return `"` + strconv.FormatUint(gen, 10) + `"` }

// etagMatches reports whether an If-None-Match header names gen (or is
// "*"). Without a token (gen 0) nothing matches.
func etagMatches(values []string, gen uint64) bool {
	if gen == 0 {
		return false
	}
	want := etag(gen)
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == want {
				return true
			}
		}
	}
	return false
}

// acceptsJSON reports whether an Accept header lists application/json.
func acceptsJSON(values []string) bool {
	for _, v := range values {
		for mr := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(mr, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "application/json") {
				return true
			}
		}
	}
	return false
}

// rfc3339 drops what RFC 3339 without fractions cannot show.
func rfc3339(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Second)
}

// lastError is the message of the failure the lifecycle retries, or "".
func (sn snapshot) lastError() string {
	if sn.Err == nil {
		return ""
	}
	return sn.Err.Error()
}

// redact cuts the current token out of a message.
func (sn snapshot) redact(msg string) string {
	if sn.Token.Token == "" {
		return msg
	}
	return strings.ReplaceAll(msg, sn.Token.Token, "<redacted>")
}

func writeText(w http.ResponseWriter, code int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // the types above always marshal
		writeText(w, http.StatusInternalServerError, "internal error: "+err.Error())
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// statusWriter remembers the status code for the request log, and calls
// onStart when the response starts (to set its write deadline then, after
// any long-poll wait).
type statusWriter struct {
	http.ResponseWriter
	status  int
	onStart func()
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.onStart()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
		w.onStart()
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
