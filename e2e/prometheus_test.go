package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/faultproxy"
	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// The Prometheus rules and their unit tests (deploy/prometheus) name only
// metrics and labels a running agent serves. The agent on the real stack
// first fails to log in (Vault answers 503 through the fault proxy), then
// logs in but cannot write a file sink whose directory is gone, so that the
// labelled counters, which exist only after a first failure, are served too.
func TestPrometheusRulesUseServedMetrics(t *testing.T) {
	rules := readRules(t, filepath.Join("..", "deploy", "prometheus", "xauth-agent.rules.yml"))
	series := readTestSeries(t, filepath.Join("..", "deploy", "prometheus", "xauth-agent.rules.test.yml"))

	proxy, err := faultproxy.Start(st.VaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.Set(faultproxy.Fault{Mode: faultproxy.Status, Status: http.StatusServiceUnavailable})
	dir, err := os.MkdirTemp("", "xa-prom-") // unix socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sinkDir := filepath.Join(dir, "tokens")
	if err := os.Mkdir(sinkDir, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	cfg := writeFile(t, "agent.hcl", fmt.Sprintf(`auth "aws" {
  role         = "vault-role"
  header_value = %q
}
sink "file" {
  path = "%s/token"
}
sink "socket" {
  path = %q
}
`, stack.HeaderValue, sinkDir, sock))
	// The flag, not the file: startDaemon's VAULT_ADDR overrides the file.
	startDaemon(t, "client1", nil, "--config", cfg, "--vault-addr", proxy.URL())

	served := map[string]map[string]bool{}
	scrapeUntil := func(what string, cond func() bool) {
		t.Helper()
		waitFor(t, 30*time.Second, what, func() bool {
			served = scrapeMetrics(t, sock)
			return cond()
		})
	}
	scrapeUntil("a failed login in /metrics", func() bool { return served["xauth_login_failures_total"] != nil })
	// The sink checked its directory at start; now its first write fails.
	if err := os.RemoveAll(sinkDir); err != nil {
		t.Fatal(err)
	}
	proxy.Set(faultproxy.Fault{Mode: faultproxy.Pass})
	scrapeUntil("a failed sink write in /metrics", func() bool { return served["xauth_sink_write_errors_total"] != nil })

	// labelsOf is what a series of the metric name may carry once scraped.
	labelsOf := func(name string) (map[string]bool, bool) {
		if prometheusSeries[name] {
			return scrapeLabels, true
		}
		l, ok := served[name]
		return l, ok
	}
	recorded := map[string]bool{}
	for _, r := range rules {
		if r.record != "" {
			recorded[r.record] = true
		}
	}
	for _, r := range rules {
		names, labels := promqlRefs(r.expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", r, r.expr)
		}
		allowed := map[string]bool{}
		for _, n := range names {
			if recorded[n] {
				t.Errorf("%s: uses the recorded %s; the e2e check knows only served metrics", r, n)
				continue
			}
			l, ok := labelsOf(n)
			if !ok {
				t.Errorf("%s: uses %s, which the agent does not serve (it serves %s)", r, n, keys(served))
			}
			for k := range l {
				allowed[k] = true
			}
		}
		for k := range scrapeLabels {
			allowed[k] = true
		}
		for _, l := range append(labels, r.templateLabels...) {
			if !allowed[l] {
				t.Errorf("%s: uses the label %q, which %s do not carry (they carry %s)", r, l, names, keys(allowed))
			}
		}
	}
	for _, s := range series {
		names, labels := promqlRefs(s)
		if len(names) != 1 {
			t.Errorf("test series %s: want one metric name, found %v", s, names)
			continue
		}
		l, ok := labelsOf(names[0])
		if !ok {
			t.Errorf("test series %s: the agent does not serve %s (it serves %s)", s, names[0], keys(served))
			continue
		}
		for _, k := range labels {
			if !l[k] && !scrapeLabels[k] {
				t.Errorf("test series %s: the agent serves %s without the label %q (labels: %s)", s, names[0], k, keys(l))
			}
		}
	}
	t.Logf("%d rules and %d test series checked against %d metrics served", len(rules), len(series), len(served))
}

// scrapeLabels are the labels Prometheus adds to every scraped series, and
// prometheusSeries the series it records itself for each scrape.
var (
	scrapeLabels     = map[string]bool{"job": true, "instance": true}
	prometheusSeries = map[string]bool{"up": true}
)

// scrapeMetrics gets /metrics from the agent's socket and returns each
// metric name with the label names its samples carry.
func scrapeMetrics(t *testing.T, sock string) map[string]map[string]bool {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "http://localhost/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Xauth-Request", "true")
	resp, err := c.Do(req)
	if err != nil {
		return nil // not listening yet
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v\n%s", resp.Status, err, body)
	}
	return parseExposition(t, string(body))
}

// parseExposition reads the text format: name{label="value",...} value.
func parseExposition(t *testing.T, text string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end <= 0 {
			t.Fatalf("/metrics: no metric name in %q", line)
		}
		name := line[:end]
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		if line[end] != '{' {
			continue
		}
		rest := line[end+1:]
		for !strings.HasPrefix(rest, "}") {
			label, after, ok := strings.Cut(rest, `="`)
			if !ok {
				t.Fatalf("/metrics: bad labels in %q", line)
			}
			out[name][strings.TrimPrefix(label, ",")] = true
			rest = after
			for i := 0; ; i++ { // the value's closing quote; \" and \\ are escapes
				if i >= len(rest) {
					t.Fatalf("/metrics: unterminated label value in %q", line)
				}
				if rest[i] == '\\' {
					i++
					continue
				}
				if rest[i] == '"' {
					rest = strings.TrimPrefix(rest[i+1:], ",")
					break
				}
			}
		}
	}
	return out
}

// rule is one recording or alerting rule of a rule file.
type rule struct {
	alert, record  string
	expr           string
	templateLabels []string // $labels.X in its labels and annotations
}

func (r rule) String() string {
	if r.alert != "" {
		return "alert " + r.alert
	}
	return "record " + r.record
}

var templateLabel = regexp.MustCompile(`\$labels\.([A-Za-z_][A-Za-z0-9_]*)`)

// readRules reads the rules of a Prometheus rule file, as far as this
// check needs: each rule's name, its expr (one line, or a block scalar
// after "expr: |") and the labels its templates name.
func readRules(t *testing.T, path string) []rule {
	t.Helper()
	lines := readLines(t, path)
	var rules []rule
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if strings.HasPrefix(line, "#") {
			continue
		}
		if v, ok := strings.CutPrefix(line, "- alert:"); ok {
			rules = append(rules, rule{alert: unquoteYAML(v)})
			continue
		}
		if v, ok := strings.CutPrefix(line, "- record:"); ok {
			rules = append(rules, rule{record: unquoteYAML(v)})
			continue
		}
		if len(rules) == 0 {
			continue
		}
		r := &rules[len(rules)-1]
		for _, m := range templateLabel.FindAllStringSubmatch(line, -1) {
			if !slices.Contains(r.templateLabels, m[1]) {
				r.templateLabels = append(r.templateLabels, m[1])
			}
		}
		v, ok := strings.CutPrefix(line, "expr:")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if !strings.HasPrefix(v, "|") && !strings.HasPrefix(v, ">") {
			r.expr = unquoteYAML(v)
			continue
		}
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		for i+1 < len(lines) {
			next := lines[i+1]
			if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
				break
			}
			r.expr += next + "\n"
			i++
		}
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules found", path)
	}
	for _, r := range rules {
		if strings.TrimSpace(r.expr) == "" {
			t.Fatalf("%s: %s: no expr found", path, r)
		}
	}
	return rules
}

// readTestSeries returns the input series of a promtool test file.
func readTestSeries(t *testing.T, path string) []string {
	t.Helper()
	var series []string
	for _, line := range readLines(t, path) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "- series:"); ok {
			series = append(series, unquoteYAML(v))
		}
	}
	if len(series) == 0 {
		t.Fatalf("%s: no input series found", path)
	}
	return series
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// unquoteYAML strips the quotes of a plain, '...' or "..." scalar (the
// files here escape nothing inside them).
func unquoteYAML(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// promqlKeywords are words of PromQL that name neither a metric nor a
// label: binary and set operators, modifiers, the aggregation operators
// (which may be followed by "by" rather than "(").
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// labelListKeywords are followed by a parenthesised list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// promqlRefs returns the metric names and the label names a PromQL
// expression (or a series selector) names, each once, in order. It reads
// what the rules here use: selectors with matchers, label lists after
// by/without/on/ignoring/group_*, function calls, aggregations, numbers,
// strings, and ranges or subqueries in brackets.
func promqlRefs(expr string) (names, labels []string) {
	var tokens []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'' || c == '`': // a string: skipped
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			i = j + 1
		case c == '[': // a range or subquery: durations only
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return names, labels
			}
			i += j + 1
		case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(expr) && (expr[j] == '_' || expr[j] == ':' || expr[j] >= 'a' && expr[j] <= 'z' ||
				expr[j] >= 'A' && expr[j] <= 'Z' || expr[j] >= '0' && expr[j] <= '9') {
				j++
			}
			tokens = append(tokens, expr[i:j])
			i = j
		case c >= '0' && c <= '9' || c == '.': // a number or a duration
			j := i + 1
			for j < len(expr) && (expr[j] == '.' || expr[j] == '_' || expr[j] >= '0' && expr[j] <= '9' ||
				expr[j] >= 'a' && expr[j] <= 'z' || expr[j] >= 'A' && expr[j] <= 'Z') {
				j++
			}
			i = j
		default:
			tokens = append(tokens, string(c))
			i++
		}
	}
	isWord := func(s string) bool {
		c := s[0]
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	add := func(list *[]string, s string) {
		if !slices.Contains(*list, s) {
			*list = append(*list, s)
		}
	}
	inBraces, inList, listNext := false, false, false
	for i, tok := range tokens {
		next := ""
		if i+1 < len(tokens) {
			next = tokens[i+1]
		}
		switch {
		case tok == "{":
			inBraces = true
		case tok == "}":
			inBraces = false
		case tok == "(" && listNext:
			inList, listNext = true, false
		case tok == ")" && inList:
			inList = false
		case !isWord(tok):
		case inBraces || inList:
			add(&labels, tok)
		case labelListKeywords[strings.ToLower(tok)]:
			listNext = next == "("
		case promqlKeywords[strings.ToLower(tok)] || next == "(": // a keyword or a function
		default:
			add(&names, tok)
		}
	}
	return names, labels
}

func TestPromQLRefs(t *testing.T) {
	for _, c := range []struct {
		expr          string
		names, labels []string
	}{
		{`up{job="xauth-agent"} == 0`, []string{"up"}, []string{"job"}},
		{`xauth_token_ttl_seconds > 0 < 300`, []string{"xauth_token_ttl_seconds"}, nil},
		{`sum by (job, reason) (rate(xauth_login_failures_total[5m]))`,
			[]string{"xauth_login_failures_total"}, []string{"job", "reason"}},
		{"xauth_backoff_seconds > 0\nand on (instance) increase(xauth_renewals_total[30m:1m] offset 5m) == 0",
			[]string{"xauth_backoff_seconds", "xauth_renewals_total"}, []string{"instance"}},
		{`sum without (sink) (xauth_sink_write_errors_total{sink=~"file:.*\"x"}) / ignoring(a) group_left(b) count(c)`,
			[]string{"xauth_sink_write_errors_total", "c"}, []string{"sink", "a", "b"}},
		{`job:xauth_logins:rate5m * 60 + Inf`, []string{"job:xauth_logins:rate5m"}, nil},
		{`xauth_build_info{job="x",instance="a:1",version="v1.2.3"}`,
			[]string{"xauth_build_info"}, []string{"job", "instance", "version"}},
	} {
		names, labels := promqlRefs(c.expr)
		if !slices.Equal(names, c.names) || !slices.Equal(labels, c.labels) {
			t.Errorf("promqlRefs(%q) = %q, %q; want %q, %q", c.expr, names, labels, c.names, c.labels)
		}
	}
}

// keys lists a map's keys, sorted, for a message.
func keys[V any](m map[string]V) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}
