package localapi

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/token"
)

// Metrics are the agent's Prometheus metrics. Logins, renewals, login
// failures, the backoff and the token's TTL are read from the lifecycle's
// token.State at each scrape, as are the Go runtime and the process
// figures; sink write errors are counted (SinkError). All methods are safe
// for concurrent use and do nothing on a nil *Metrics.
//
// The text exposition format is written here rather than with
// client_golang: that library and what it pulls in (protobuf, procfs)
// were about 2.2 MB of the binary, and resident memory follows binary
// size; a dozen counters and gauges need none of it.
type Metrics struct {
	version string
	state   *token.Latest

	mu         sync.Mutex
	sinkErrors map[string]uint64 // by sink name
	onChange   map[string]uint64 // on_change runs, by result
}

// NewMetrics returns the metrics of state; version is xauth_build_info's
// label.
func NewMetrics(version string, state *token.Latest) *Metrics {
	if state == nil {
		state = token.NewLatest()
	}
	return &Metrics{version: version, state: state, sinkErrors: map[string]uint64{}, onChange: map[string]uint64{}}
}

// SinkError counts a failed write of the sink named name (sink.Sink's Name).
func (m *Metrics) SinkError(name string) {
	if m != nil {
		m.mu.Lock()
		m.sinkErrors[name]++
		m.mu.Unlock()
	}
}

// OnChangeResults makes each of results a series of the on_change counter
// from the start, at 0, so that a first failure shows as an increase.
func (m *Metrics) OnChangeResults(results ...string) {
	if m != nil {
		m.mu.Lock()
		for _, r := range results {
			m.onChange[r] += 0
		}
		m.mu.Unlock()
	}
}

// OnChangeRan counts an on_change run by its result (hook.Options.Done).
func (m *Metrics) OnChangeRan(result string) {
	if m != nil {
		m.mu.Lock()
		m.onChange[result]++
		m.mu.Unlock()
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return http.HandlerFunc(m.serve) }

// contentType names the text exposition format version 0.0.4, the one
// every Prometheus-compatible scraper accepts.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

func (m *Metrics) serve(w http.ResponseWriter, _ *http.Request) {
	b := appendText(nil, m.families())
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// ttlSeconds is how long the token of st has left at now: 0 without a
// token or once expired, +Inf for a token without expiry.
func ttlSeconds(st token.State, now time.Time) float64 {
	switch {
	case st.Generation == 0:
		return 0
	case st.Token.ExpiresAt.IsZero():
		return math.Inf(1)
	}
	return max(st.Token.ExpiresAt.Sub(now), 0).Seconds()
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

// family is one metric family of the text format: all its samples share
// the name, and carry at most one label.
type family struct {
	name, typ, help string
	label           string // the label's name; "" for a family without labels
	samples         []sample
}

type sample struct {
	label string // the label's value
	value float64
}

const (
	counter = "counter"
	gauge   = "gauge"
)

func single(name, typ, help string, v float64) family {
	return family{name: name, typ: typ, help: help, samples: []sample{{value: v}}}
}

// labelled makes a family with a sample per key of counts, in key order
// so the output is stable.
func labelled(name, help, label string, counts map[string]uint64) family {
	f := family{name: name, typ: counter, help: help, label: label}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		f.samples = append(f.samples, sample{label: k, value: float64(counts[k])})
	}
	return f
}

// families is a scrape: every family, sorted by name.
func (m *Metrics) families() []family {
	st, _ := m.state.Load()
	failures := map[string]uint64{}
	for reason, n := range st.LoginFailures {
		failures[labelWord(reason)] += n
	}
	fams := []family{
		single("xauth_logins_total", counter, "Successful logins to Vault (each gives a new token).", float64(st.Logins)),
		single("xauth_renewals_total", counter, "Successful renewals of the token.", float64(st.Renewals)),
		single("xauth_backoff_seconds", gauge, "The current wait before retrying a failed login or renewal; 0 when not backing off.",
			st.Backoff.Seconds()),
		single("xauth_token_ttl_seconds", gauge, "Seconds until the current token expires; 0 without a token or once expired, +Inf for a token without expiry.",
			ttlSeconds(st, time.Now())),
		{name: "xauth_build_info", typ: gauge, help: "Always 1; the version label names the agent's version.",
			label: "version", samples: []sample{{label: m.version, value: 1}}},
		{name: "go_info", typ: gauge, help: "Always 1; the version label names the Go release the agent was built with.",
			label: "version", samples: []sample{{label: runtime.Version(), value: 1}}},
	}
	m.mu.Lock()
	fams = append(fams,
		labelled("xauth_login_failures_total", "Failed logins to Vault, by reason.", "reason", failures),
		labelled("xauth_sink_write_errors_total", "Failed sink writes, by sink.", "sink", m.sinkErrors),
		labelled("xauth_on_change_runs_total", "Runs of the file sinks' on_change commands, by result (ok, failed, timeout, no_start).", "result", m.onChange))
	m.mu.Unlock()
	fams = append(fams, goFamilies()...)
	fams = append(fams, processFamilies()...)
	slices.SortFunc(fams, func(a, b family) int { return strings.Compare(a.name, b.name) })
	return fams
}

// goMetrics are the Go runtime figures, under the names client_golang's
// Go collector gives them so existing dashboards keep working. They come
// from runtime/metrics, which unlike runtime.ReadMemStats does not stop
// the world.
var goMetrics = []struct{ name, typ, help, source string }{
	{"go_gc_cycles_total", counter, "Completed garbage collection cycles.", "/gc/cycles/total:gc-cycles"},
	{"go_gc_gomemlimit_bytes", gauge, "The Go runtime's soft memory limit (GOMEMLIMIT); math.MaxInt64 when unset.", "/gc/gomemlimit:bytes"},
	{"go_goroutines", gauge, "Goroutines that currently exist.", "/sched/goroutines:goroutines"},
	{"go_memstats_alloc_bytes_total", counter, "Bytes allocated on the heap since the start, freed or not.", "/gc/heap/allocs:bytes"},
	{"go_memstats_heap_alloc_bytes", gauge, "Bytes of live and not yet swept heap objects.", "/memory/classes/heap/objects:bytes"},
	{"go_memstats_next_gc_bytes", gauge, "Heap size at which the next garbage collection starts.", "/gc/heap/goal:bytes"},
	{"go_memstats_sys_bytes", gauge, "Bytes of memory the Go runtime has mapped from the system.", "/memory/classes/total:bytes"},
	{"go_threads", gauge, "OS threads the Go runtime currently owns.", "/sched/threads/total:threads"},
}

func goFamilies() []family {
	samples := make([]metrics.Sample, len(goMetrics))
	for i, g := range goMetrics {
		samples[i].Name = g.source
	}
	metrics.Read(samples)
	fams := make([]family, 0, len(goMetrics))
	for i, g := range goMetrics {
		// KindBad: a Go release without this metric; leave it out.
		if samples[i].Value.Kind() == metrics.KindUint64 {
			fams = append(fams, single(g.name, g.typ, g.help, float64(samples[i].Value.Uint64())))
		}
	}
	return fams
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
)

// appendText writes fams in the text exposition format 0.0.4. A family
// without samples is left out, as Prometheus's own clients do.
func appendText(b []byte, fams []family) []byte {
	for _, f := range fams {
		if len(f.samples) == 0 {
			continue
		}
		b = fmt.Appendf(b, "# HELP %s %s\n# TYPE %s %s\n", f.name, helpEscaper.Replace(f.help), f.name, f.typ)
		for _, s := range f.samples {
			b = append(b, f.name...)
			if f.label != "" {
				// A value that is not UTF-8 (a sink's path may be any bytes)
				// would make the whole scrape unparsable.
				v := labelEscaper.Replace(strings.ToValidUTF8(s.label, "\uFFFD"))
				b = fmt.Appendf(b, `{%s="%s"}`, f.label, v)
			}
			// strconv already spells the special values as the format
			// wants them: +Inf, -Inf, NaN.
			b = append(b, ' ')
			b = strconv.AppendFloat(b, s.value, 'g', -1, 64)
			b = append(b, '\n')
		}
	}
	return b
}
