package localapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/sink"
	"github.com/xauth-agent/xauth-agent/internal/token"
)

func TestReadiness(t *testing.T) {
	now := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	valid := token.Token{Token: "hvs.secret", Accessor: "acc", ExpiresAt: now.Add(time.Hour)}
	tests := []struct {
		name      string
		tok       *token.Token // nil: no token yet
		gen       uint64       // how many tokens the state has had
		sinks     []sink.Status
		socket    string
		ready     bool
		states    []string
		errorText string
	}{
		{name: "no token yet", sinks: []sink.Status{{Name: "file:/a"}}, socket: "/s", states: []string{SinkStale, SinkStale}},
		{name: "every sink current", tok: &valid, gen: 2, ready: true, socket: "/s",
			sinks: []sink.Status{{Name: "file:/a", Generation: 2}, {Name: "file:/b", Generation: 2}}, states: []string{SinkCurrent, SinkCurrent, SinkCurrent}},
		{name: "one sink holds the previous token", tok: &valid, gen: 2,
			sinks: []sink.Status{{Name: "file:/a", Generation: 2}, {Name: "file:/b", Generation: 1}}, states: []string{SinkCurrent, SinkStale}},
		{name: "one sink failing", tok: &valid, gen: 1,
			sinks:  []sink.Status{{Name: "file:/a", Generation: 0, LastError: "disk full near hvs.secret"}},
			states: []string{SinkFailing}, errorText: "disk full near <redacted>"},
		{name: "no sinks", tok: &valid, gen: 1, ready: true, states: []string{}},
		{name: "expired token", tok: &token.Token{Token: "t", ExpiresAt: now.Add(-time.Second)}, gen: 1,
			sinks: []sink.Status{{Name: "file:/a", Generation: 1}}, states: []string{SinkCurrent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := token.NewLatest()
			for i := uint64(1); i <= tt.gen; i++ {
				tok := *tt.tok
				if i < tt.gen {
					tok.Token += "-old"
				}
				l.Update(func(s *token.State) { s.SetToken(tok, now) })
			}
			p := &Probes{State: l, Sinks: func() []sink.Status { return tt.sinks }, Socket: tt.socket}
			r := p.Readiness(now)
			if r.Ready != tt.ready || r.Generation != tt.gen {
				t.Errorf("ready %v generation %d, want %v %d", r.Ready, r.Generation, tt.ready, tt.gen)
			}
			var states []string
			for _, s := range r.Sinks {
				states = append(states, s.State)
				if s.State == SinkFailing && s.Error != tt.errorText {
					t.Errorf("error %q, want %q", s.Error, tt.errorText)
				}
			}
			if strings.Join(states, ",") != strings.Join(tt.states, ",") {
				t.Errorf("sink states %q, want %q", states, tt.states)
			}
			if len(r.Sinks) > 0 && (r.Sinks[0].Type != "file" || r.Sinks[0].Path != "/a") && tt.sinks != nil {
				t.Errorf("first sink %+v, want type file, path /a", r.Sinks[0])
			}
		})
	}
}

// The health listener serves livez, readyz and /metrics, and 404 for
// anything else, the token above all.
func TestHealthServer(t *testing.T) {
	l := token.NewLatest()
	l.Update(func(s *token.State) {
		s.SetToken(token.Token{Token: "hvs.secret", Accessor: "acc", ExpiresAt: time.Now().Add(time.Hour)}, time.Now())
		s.Step = "renewing"
	})
	var stopped atomic.Bool
	h := NewHealth(HealthOptions{Address: "127.0.0.1:0", Probes: &Probes{State: l, Live: func() bool { return !stopped.Load() }},
		Metrics: NewMetrics("v1", l)}, nil)
	if err := h.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + h.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(b), "hvs.secret") {
			t.Errorf("%s served the token", path)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get(PathReadyz); code != http.StatusOK || !strings.Contains(body, `"ready":true`) {
		t.Errorf("readyz: %d %s", code, body)
	}
	var lv Liveness
	code, body := get(PathLivez)
	if err := json.Unmarshal([]byte(body), &lv); err != nil || code != http.StatusOK || !lv.Live || lv.State != "renewing" {
		t.Errorf("livez: %d %s", code, body)
	}
	stopped.Store(true)
	if code, _ := get(PathLivez); code != http.StatusServiceUnavailable {
		t.Errorf("livez with the lifecycle stopped: %d, want 503", code)
	}
	if code, body := get(PathMetrics); code != http.StatusOK || !strings.Contains(body, "xauth_build_info") {
		t.Errorf("metrics: %d", code)
	}
	for _, p := range []string{PathToken, PathStatus, PathHealth, "/", "/v1/token?wait=1s"} {
		if code, _ := get(p); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}

// The on_change counter serves each result from 0, so that a first failure
// is an increase.
func TestOnChangeMetrics(t *testing.T) {
	m := NewMetrics("v1", nil)
	m.OnChangeResults("ok", "failed")
	m.OnChangeRan("ok")
	got := parse(t, scrape(t, m)).values
	if got[`xauth_on_change_runs_total{result="ok"}`] != 1 || got[`xauth_on_change_runs_total{result="failed"}`] != 0 {
		t.Errorf("on_change counters: %v", got)
	}
	if _, ok := got[`xauth_on_change_runs_total{result="failed"}`]; !ok {
		t.Error("the failed result is not served before a first failure")
	}
}
