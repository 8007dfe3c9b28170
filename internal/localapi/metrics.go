package localapi

import (
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the agent's Prometheus metrics, in a registry of their own
// (never the global one). The daemon counts events through the methods;
// the token's TTL is computed at each scrape from the token the Server
// holds. All methods are safe for concurrent use and do nothing on a nil
// *Metrics, so the daemon may call them whether or not a socket is
// configured.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	logins        prometheus.Counter
	loginFailures *prometheus.CounterVec
	renewals      prometheus.Counter
	sinkErrors    *prometheus.CounterVec
	backoff       prometheus.Gauge

	// expiry is the current token's expiry in Unix nanoseconds; noToken
	// before the first token, neverExpires for a token without a lease.
	expiry atomic.Int64
}

const (
	noToken      = 0
	neverExpires = math.MinInt64
)

// NewMetrics registers the agent's metrics, plus the Go runtime and
// process collectors, in a new registry.
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		logins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xauth_logins_total", Help: "Successful logins to Vault (each gives a new token).",
		}),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xauth_login_failures_total", Help: "Failed logins to Vault, by reason.",
		}, []string{"reason"}),
		renewals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xauth_renewals_total", Help: "Successful renewals of the token.",
		}),
		sinkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xauth_sink_write_errors_total", Help: "Failed sink writes, by sink.",
		}, []string{"sink"}),
		backoff: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xauth_backoff_seconds", Help: "The current wait before retrying a failed login or renewal; 0 when not backing off.",
		}),
	}
	ttl := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "xauth_token_ttl_seconds", Help: "Seconds until the current token expires; 0 without a token or once expired, +Inf for a token without expiry.",
	}, m.ttlSeconds)
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "xauth_build_info", Help: "Always 1; the version label names the agent's version.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	info.Set(1)
	m.reg.MustRegister(m.logins, m.loginFailures, m.renewals, m.sinkErrors, m.backoff, ttl, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// LoginOK counts a successful login.
func (m *Metrics) LoginOK() {
	if m != nil {
		m.logins.Inc()
	}
}

// LoginFailed counts a failed login. reason must come from a small fixed
// set, e.g. renew.ErrKind's String ("transient", "login_refused",
// "credentials"); anything that is not a short lowercase word counts as
// "other", so an error message cannot blow up the label's cardinality.
func (m *Metrics) LoginFailed(reason string) {
	if m != nil {
		m.loginFailures.WithLabelValues(labelWord(reason)).Inc()
	}
}

// Renewed counts a successful renewal.
func (m *Metrics) Renewed() {
	if m != nil {
		m.renewals.Inc()
	}
}

// Backoff sets the current retry wait; pass 0 after a success.
func (m *Metrics) Backoff(d time.Duration) {
	if m != nil {
		m.backoff.Set(max(d, 0).Seconds())
	}
}

// SinkError counts a failed write of the sink named name (sink.Sink's Name).
func (m *Metrics) SinkError(name string) {
	if m != nil {
		m.sinkErrors.WithLabelValues(name).Inc()
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// tokenExpiry records the current token's expiry for the TTL gauge.
func (m *Metrics) tokenExpiry(t time.Time) {
	if m == nil {
		return
	}
	v := int64(neverExpires)
	if !t.IsZero() {
		v = t.UnixNano()
	}
	m.expiry.Store(v)
}

func (m *Metrics) ttlSeconds() float64 {
	switch v := m.expiry.Load(); v {
	case noToken:
		return 0
	case neverExpires:
		return math.Inf(1)
	default:
		return max(time.Until(time.Unix(0, v)), 0).Seconds()
	}
}

// labelWord returns s if it is a short word of [a-z0-9_], else "other".
func labelWord(s string) string {
	if s == "" || len(s) > 32 {
		return "other"
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return "other"
		}
	}
	return s
}
