package localapi

import (
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestAppendText(t *testing.T) {
	tests := []struct {
		name string
		fams []family
		want string
	}{
		{
			name: "counter without labels",
			fams: []family{single("a_total", counter, "Things.", 3)},
			want: "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n",
		},
		{
			name: "special and fractional values",
			fams: []family{{name: "g", typ: gauge, help: "H.", label: "v", samples: []sample{
				{"pos", math.Inf(1)}, {"neg", math.Inf(-1)}, {"nan", math.NaN()},
				{"half", 1.5}, {"big", 12015880}, {"zero", 0}, {"huge", math.MaxInt64},
			}}},
			want: "# HELP g H.\n# TYPE g gauge\n" +
				"g{v=\"pos\"} +Inf\ng{v=\"neg\"} -Inf\ng{v=\"nan\"} NaN\n" +
				"g{v=\"half\"} 1.5\ng{v=\"big\"} 1.201588e+07\ng{v=\"zero\"} 0\ng{v=\"huge\"} 9.223372036854776e+18\n",
		},
		{
			name: "label value escaping",
			fams: []family{{name: "e", typ: counter, help: "H.", label: "sink", samples: []sample{
				{"file:/a\"b\\c\nd", 1},
			}}},
			want: "# HELP e H.\n# TYPE e counter\ne{sink=\"file:/a\\\"b\\\\c\\nd\"} 1\n",
		},
		{
			name: "label value that is not UTF-8",
			fams: []family{{name: "e", typ: counter, help: "H.", label: "sink", samples: []sample{{"file:/x\xff", 1}}}},
			want: "# HELP e H.\n# TYPE e counter\ne{sink=\"file:/x\uFFFD\"} 1\n",
		},
		{
			name: "help escaping keeps quotes",
			fams: []family{single("h", gauge, "a\\b\n\"c\"", 1)},
			want: "# HELP h a\\\\b\\n\"c\"\n# TYPE h gauge\nh 1\n",
		},
		{
			name: "family without samples is left out",
			fams: []family{{name: "empty", typ: counter, help: "H.", label: "x"}, single("b", gauge, "H.", 2)},
			want: "# HELP b H.\n# TYPE b gauge\nb 2\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendText(nil, tt.fams)); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// scrape serves m once and returns the body, failing on a wrong status
// or content type.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathMetrics, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Body.String()
}

// parsed is a scrape as Prometheus reads it: each series ("name" or
// `name{label="value"}`) with its value, and each family's type.
type parsed struct {
	values map[string]float64
	types  map[string]dto.MetricType
}

func parse(t *testing.T, body string) parsed {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("Prometheus cannot parse the scrape: %v\n%s", err, body)
	}
	out := parsed{values: map[string]float64{}, types: map[string]dto.MetricType{}}
	for name, f := range fams {
		out.types[name] = f.GetType()
		for _, mt := range f.GetMetric() {
			key := name
			for _, l := range mt.GetLabel() {
				key += "{" + l.GetName() + "=" + `"` + l.GetValue() + `"}`
			}
			v := mt.GetGauge().GetValue()
			if f.GetType() == dto.MetricType_COUNTER {
				v = mt.GetCounter().GetValue()
			}
			out.values[key] = v
		}
	}
	return out
}

func TestScrapeParses(t *testing.T) {
	m := NewMetrics("1.2.3", nil)
	loginOK(m)
	loginOK(m)
	loginFailed(m, "login_refused")
	loginFailed(m, "Post https://vault:8200/v1/auth/aws/login: dial tcp: connection refused")
	loginFailed(m, "permission denied\n")
	renewed(m)
	setBackoff(m, 1500*time.Millisecond)
	m.SinkError("socket:/b")
	m.SinkError("file:/a")
	m.SinkError("socket:/b")
	tokenExpiry(m, time.Time{}) // a token without expiry

	body := scrape(t, m)
	got := parse(t, body)

	want := []struct {
		series string
		typ    dto.MetricType
		value  float64
	}{
		{"xauth_logins_total", dto.MetricType_COUNTER, 2},
		{`xauth_login_failures_total{reason="login_refused"}`, dto.MetricType_COUNTER, 1},
		{`xauth_login_failures_total{reason="other"}`, dto.MetricType_COUNTER, 2},
		{"xauth_renewals_total", dto.MetricType_COUNTER, 1},
		{`xauth_sink_write_errors_total{sink="file:/a"}`, dto.MetricType_COUNTER, 1},
		{`xauth_sink_write_errors_total{sink="socket:/b"}`, dto.MetricType_COUNTER, 2},
		{"xauth_backoff_seconds", dto.MetricType_GAUGE, 1.5},
		{"xauth_token_ttl_seconds", dto.MetricType_GAUGE, math.Inf(1)},
		{`xauth_build_info{version="1.2.3"}`, dto.MetricType_GAUGE, 1},
		{`go_info{version="` + runtime.Version() + `"}`, dto.MetricType_GAUGE, 1},
	}
	for _, w := range want {
		name, _, _ := strings.Cut(w.series, "{")
		if v, ok := got.values[w.series]; !ok || v != w.value || got.types[name] != w.typ {
			t.Errorf("%s = %v (present %v), type %v; want %v, %v", w.series, v, ok, got.types[name], w.value, w.typ)
		}
	}

	// Runtime and process figures: present, of the right type, plausible.
	positive := map[string]dto.MetricType{
		"go_goroutines": dto.MetricType_GAUGE, "go_threads": dto.MetricType_GAUGE,
		"go_memstats_heap_alloc_bytes": dto.MetricType_GAUGE, "go_memstats_sys_bytes": dto.MetricType_GAUGE,
		"go_memstats_next_gc_bytes": dto.MetricType_GAUGE, "go_memstats_alloc_bytes_total": dto.MetricType_COUNTER,
		"go_gc_gomemlimit_bytes": dto.MetricType_GAUGE,
	}
	if runtime.GOOS == "linux" {
		positive["process_resident_memory_bytes"] = dto.MetricType_GAUGE
		positive["process_virtual_memory_bytes"] = dto.MetricType_GAUGE
		positive["process_open_fds"] = dto.MetricType_GAUGE
		positive["process_max_fds"] = dto.MetricType_GAUGE
		positive["process_start_time_seconds"] = dto.MetricType_GAUGE
	}
	for name, typ := range positive {
		if v := got.values[name]; v <= 0 || got.types[name] != typ {
			t.Errorf("%s = %v, type %v; want > 0, %v", name, v, got.types[name], typ)
		}
	}
	if _, ok := got.values["go_gc_cycles_total"]; !ok || got.types["go_gc_cycles_total"] != dto.MetricType_COUNTER {
		t.Errorf("go_gc_cycles_total missing or not a counter")
	}
	if runtime.GOOS == "linux" {
		if _, ok := got.values["process_cpu_seconds_total"]; !ok {
			t.Errorf("process_cpu_seconds_total missing")
		}
		// The test binary started a moment ago (allow for a slow CI box).
		now := float64(time.Now().Unix())
		if st := got.values["process_start_time_seconds"]; st > now+1 || st < now-3600 {
			t.Errorf("process_start_time_seconds = %v, now is %v", st, now)
		}
	}

	// Families sorted by name, and each family's series by label value.
	var names, series []string
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(rest)[0])
		} else if strings.HasPrefix(line, "xauth_sink_write_errors_total{") {
			series = append(series, line)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("families not sorted by name: %q", names)
	}
	if !slices.IsSorted(series) || len(series) != 2 {
		t.Errorf("sink series not sorted by sink: %q", series)
	}
}

// TestErrorTextNeverBecomesALabel: a caller that passes an error's text
// as the reason must not create a series per message, nor leak the
// message (it may name hosts or roles) into the metrics.
func TestErrorTextNeverBecomesALabel(t *testing.T) {
	for _, reason := range []string{
		"Post https://vault:8200/v1/auth/aws/login: dial tcp 10.0.0.1:8200: connection refused",
		"login_refused\n",
		`x"} 1` + "\nxauth_logins_total 99",
		"Transient",
		strings.Repeat("a", 33),
		"",
	} {
		m := NewMetrics("test", nil)
		loginFailed(m, reason)
		body := scrape(t, m)
		if !strings.Contains(body, "xauth_login_failures_total{reason=\"other\"} 1\n") {
			t.Errorf("LoginFailed(%q) not counted as other:\n%s", reason, body)
		}
		if reason != "" && strings.Contains(body, reason) {
			t.Errorf("LoginFailed(%q): the text reaches the scrape", reason)
		}
		if got := parse(t, body).values["xauth_logins_total"]; got != 0 {
			t.Errorf("LoginFailed(%q): xauth_logins_total = %v", reason, got)
		}
	}
}

func TestTokenTTLSeconds(t *testing.T) {
	tests := []struct {
		name     string
		expiry   func(*Metrics)
		min, max float64
	}{
		{"no token yet", func(*Metrics) {}, 0, 0},
		{"no expiry", func(m *Metrics) { tokenExpiry(m, time.Time{}) }, math.Inf(1), math.Inf(1)},
		{"expired", func(m *Metrics) { tokenExpiry(m, time.Now().Add(-time.Minute)) }, 0, 0},
		{"an hour left", func(m *Metrics) { tokenExpiry(m, time.Now().Add(time.Hour)) }, 3500, 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics("test", nil)
			tt.expiry(m)
			if got := parse(t, scrape(t, m)).values["xauth_token_ttl_seconds"]; got < tt.min || got > tt.max {
				t.Errorf("xauth_token_ttl_seconds = %v, want in [%v, %v]", got, tt.min, tt.max)
			}
		})
	}
}

// TestMetricsConcurrent counts from many goroutines while scraping; run
// with -race it checks the locking, and the totals check nothing is lost.
func TestMetricsConcurrent(t *testing.T) {
	const workers, each = 8, 100
	m := NewMetrics("test", nil)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for range each {
				loginOK(m)
				loginFailed(m, "transient")
				m.SinkError("file:/x")
				setBackoff(m, time.Duration(i)*time.Second)
				tokenExpiry(m, time.Now().Add(time.Hour))
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			rec := httptest.NewRecorder()
			m.serve(rec, nil)
		}
	})
	wg.Wait()
	got := parse(t, scrape(t, m)).values
	for _, s := range []string{"xauth_logins_total", `xauth_login_failures_total{reason="transient"}`, `xauth_sink_write_errors_total{sink="file:/x"}`} {
		if got[s] != workers*each {
			t.Errorf("%s = %v, want %d", s, got[s], workers*each)
		}
	}
}
