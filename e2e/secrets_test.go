package e2e

// The leak scan. Every agent process the suite starts through runAgent or
// startDaemon runs with debug logging, and its log output (stderr) must not
// show a secret: an issued Vault token, an AWS secret key or session token,
// Vault's root token, or a SigV4 signature. What the suite knows:
//
//   - the stack's fixed secrets (stack.Secrets);
//   - every token the run wrote to its sinks or printed on stdout (sink files
//     are read when the run ends, and polled while a daemon runs, since a
//     daemon replaces its token);
//   - every SigV4 signature the AWS fake received (awsfake Signatures).
//
// Besides exact matches (raw, or inside base64 as a logged request body
// would hold them), any string shaped like a Vault token or an
// Authorization header's signature counts as a leak. A leak fails the test
// that ran the agent, naming the kind of secret; TestMain repeats the list.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/faultproxy"
	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

var (
	// vaultTokenRE matches Vault service, batch and recovery tokens
	// (hvs./hvb./hvr. and base64url, as Vault 1.21 issues them).
	vaultTokenRE = regexp.MustCompile(`\bhv[sbr]\.[A-Za-z0-9_-]{20,}`)
	// authSignatureRE matches the signature part of a SigV4 Authorization header.
	authSignatureRE = regexp.MustCompile(`Signature=[0-9a-fA-F]{64}`)
	hexRunRE        = regexp.MustCompile(`[0-9a-fA-F]{64,}`)
	// configPathRE finds the paths in an HCL config (sink paths among them).
	configPathRE = regexp.MustCompile(`(?m)^\s*path\s*=\s*"([^"]+)"`)
)

// leaked lists every leak found, "<test>: <kind>", for TestMain's summary.
var leaked struct {
	mu   sync.Mutex
	list []string
}

// reportLeaks prints the leaks found during the run; 1 when there were any.
func reportLeaks() int {
	leaked.mu.Lock()
	defer leaked.mu.Unlock()
	if len(leaked.list) == 0 {
		return 0
	}
	fmt.Fprintf(os.Stderr, "e2e: SECRETS IN AGENT LOGS (%d):\n", len(leaked.list))
	for _, l := range leaked.list {
		fmt.Fprintln(os.Stderr, "  "+l)
	}
	return 1
}

// leakScan finds secrets in log text.
type leakScan struct {
	exact      []stack.Secret  // searched raw and base64-encoded
	signatures map[string]bool // lower-case hex, searched in runs of hex digits
}

// find returns the kinds of secret log shows, sorted, each once.
func (s leakScan) find(log string) []string {
	found := map[string]bool{}
	for _, sec := range s.exact {
		if sec.Value == "" {
			continue
		}
		if strings.Contains(log, sec.Value) {
			found[sec.Kind] = true
		}
		for _, enc := range base64Forms(sec.Value) {
			if strings.Contains(log, enc) {
				found[sec.Kind+", base64-encoded"] = true
			}
		}
	}
	for _, tok := range vaultTokenRE.FindAllString(log, -1) {
		if !s.isExact(tok) {
			found["vault token (by its shape)"] = true
		}
	}
	if authSignatureRE.MatchString(log) {
		found["sigv4 signature (Authorization header)"] = true
	}
	for _, run := range hexRunRE.FindAllString(log, -1) {
		run = strings.ToLower(run)
		for i := 0; i+64 <= len(run); i++ {
			if s.signatures[run[i:i+64]] {
				found["sigv4 signature"] = true
			}
		}
	}
	kinds := make([]string, 0, len(found))
	for k := range found {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

func (s leakScan) isExact(v string) bool {
	for _, sec := range s.exact {
		if sec.Value == v {
			return true
		}
	}
	return false
}

// base64Forms returns the parts of v's standard and URL base64 encodings
// that do not depend on the bytes around v, for each of the three
// alignments v can have in a longer encoded text. Forms shorter than 12
// characters are left out: they could match by chance.
func base64Forms(v string) []string {
	var out []string
	for o := range 3 {
		start := (8*o + 5) / 6      // first character made of v's bits only
		end := 8 * (o + len(v)) / 6 // past the last one
		if end-start < 12 {
			continue
		}
		b := append(make([]byte, o), v...)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			out = append(out, enc.EncodeToString(b)[start:end])
		}
	}
	return out
}

// withDebugLog adds --log-level debug unless the arguments or the
// environment already choose a level, or args start with a subcommand
// (which has flags of its own). A level in a --config file is overridden:
// the scan wants the most verbose output.
func withDebugLog(args, env []string) []string {
	var sub []string // a subcommand goes first; only some take the agent's flags
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if !flagSubcommands[args[0]] {
			return args
		}
		sub, args = []string{args[0]}, args[1:]
	}
	for _, a := range args {
		if a == "--log-level" || a == "-log-level" || strings.HasPrefix(a, "--log-level=") || strings.HasPrefix(a, "-log-level=") {
			return append(sub, args...)
		}
	}
	for _, e := range env {
		if strings.HasPrefix(e, "XAUTH_LOG_LEVEL=") {
			return append(sub, args...)
		}
	}
	return append(append(sub, "--log-level", "debug"), args...)
}

// flagSubcommands take the agent's flags, --log-level among them.
var flagSubcommands = map[string]bool{"diagnose": true, "exec": true, "validate": true}

// watchedRun is one agent process under the leak scan.
type watchedRun struct {
	t      *testing.T
	args   []string
	stop   chan struct{}
	polled chan struct{}

	mu     sync.Mutex
	tokens map[string]bool
}

// watchRun starts watching a run with args. With poll, the run's sink files
// are read every 20 ms until finish, so a daemon's every token is seen.
func watchRun(t *testing.T, args []string, poll bool) *watchedRun {
	t.Helper()
	w := &watchedRun{t: t, args: args, tokens: map[string]bool{}}
	if poll {
		w.stop, w.polled = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(w.polled)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				w.readSinks()
				select {
				case <-w.stop:
					return
				case <-tick.C:
				}
			}
		}()
	}
	return w
}

// sinkPaths are the files the run writes: --sink-file values and the paths
// in its --config file.
func (w *watchedRun) sinkPaths() []string {
	var paths []string
	for i, a := range w.args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "sink-file" && name != "config" {
			continue
		}
		if !hasVal {
			if i+1 >= len(w.args) {
				continue
			}
			val = w.args[i+1]
		}
		if name == "sink-file" {
			paths = append(paths, val)
			continue
		}
		cfg, _ := os.ReadFile(val)
		for _, m := range configPathRE.FindAllStringSubmatch(string(cfg), -1) {
			paths = append(paths, m[1])
		}
	}
	return paths
}

func (w *watchedRun) readSinks() {
	for _, p := range w.sinkPaths() {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, _ := os.ReadFile(filepath.Clean(p))
		w.saw(string(b))
	}
}

// saw records the tokens in text (sink content, stdout).
func (w *watchedRun) saw(text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, tok := range vaultTokenRE.FindAllString(text, -1) {
		w.tokens[tok] = true
	}
}

// scan builds the scan for this run: the stack's secrets, the run's tokens
// and the signatures the fake received.
func (w *watchedRun) scan() leakScan {
	s := leakScan{exact: st.Secrets(), signatures: map[string]bool{}}
	w.mu.Lock()
	for tok := range w.tokens {
		s.exact = append(s.exact, stack.Secret{Kind: "vault token", Value: tok})
	}
	w.mu.Unlock()
	for _, sig := range st.AWS.Signatures() {
		s.signatures[strings.ToLower(sig)] = true
	}
	return s
}

// finish reads the sinks a last time and scans the run's log; a leak fails
// the test. stdout is scanned for tokens only: --once prints the token there
// on purpose.
func (w *watchedRun) finish(stdout, log string) {
	if w.stop != nil {
		close(w.stop)
		<-w.polled
		w.stop = nil
	}
	w.readSinks()
	w.saw(stdout)
	kinds := w.scan().find(log)
	if len(kinds) == 0 {
		return
	}
	leaked.mu.Lock()
	for _, k := range kinds {
		leaked.list = append(leaked.list, w.t.Name()+": "+k)
	}
	leaked.mu.Unlock()
	w.t.Errorf("the agent's log output shows secrets: %s (agent args %q)", strings.Join(kinds, "; "), w.args)
}

func TestLeakScanFindsSecrets(t *testing.T) {
	const (
		token   = "hvs.CAESIJxVw1-v0nYv4h9hQ0n3N2w9pkF4hl1X0dWm2hG0h0xaGh4KHGh2cy5aWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo"
		secret  = "client9/secret+key0123456789abcdefghijkl"
		session = "client9-session-token"
		sig     = "3f0a9d2c7b1e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"
	)
	s := leakScan{
		exact: []stack.Secret{
			{Kind: "vault token", Value: token},
			{Kind: "aws secret access key", Value: secret},
			{Kind: "aws session token", Value: session},
		},
		signatures: map[string]bool{sig: true},
	}
	clean := `{"level":"info","ts":"2026-11-25T14:51:14.167Z","logger":"xauth-agent.sink.file","msg":"token written","path":"/tmp/x/token","accessor":"lzN7n01X82ikBrvX3ZeFCFiV","bytes":95}
{"level":"debug","logger":"xauth-agent.login","msg":"logging in","request_id":"0f8fad5b-d9cb-469f-a165-70867728950e","payload_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}`
	if got := s.find(clean); len(got) != 0 {
		t.Fatalf("a clean log is reported: %q", got)
	}
	// The login body as the agent sends it: the signed headers as base64 JSON.
	headers := base64.StdEncoding.EncodeToString([]byte(`{"Authorization":["AWS4-HMAC-SHA256 Credential=ASIA/20261125/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=` + sig + `"],"X-Amz-Security-Token":["` + session + `"]}`))
	tests := []struct {
		name, log string
		want      []string
	}{
		{"token in a json log line", clean + `{"msg":"new token","token":"` + token + `"}`, []string{"vault token"}},
		{"unknown token by its shape", "written hvs.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA to disk", []string{"vault token (by its shape)"}},
		{"batch token by its shape", "hvb.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", []string{"vault token (by its shape)"}},
		{"secret key in an error", "signing failed with key " + secret, []string{"aws secret access key"}},
		{"session token", "X-Amz-Security-Token: " + session, []string{"aws session token"}},
		{"authorization header", "Authorization: AWS4-HMAC-SHA256 Credential=x, Signature=" + strings.Repeat("ab", 32), []string{"sigv4 signature (Authorization header)"}},
		{"known signature alone", `"sig":"` + strings.ToUpper(sig) + `"`, []string{"sigv4 signature"}},
		{"known signature inside a longer hex run", "00ff" + sig + "11", []string{"sigv4 signature"}},
		{"logged login body", `{"iam_request_headers":"` + headers + `"}`, []string{"aws session token, base64-encoded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.find(tt.log); !slices.Equal(got, tt.want) {
				t.Errorf("find = %q, want %q", got, tt.want)
			}
		})
	}
	// Every alignment of a secret inside base64 text is found.
	for o := range 3 {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
			log := enc.EncodeToString([]byte(strings.Repeat("x", o) + secret + "tail"))
			if got := s.find(log); !slices.Equal(got, []string{"aws secret access key, base64-encoded"}) {
				t.Errorf("offset %d: find(%q) = %q", o, log, got)
			}
		}
	}
}

func TestLeakScanKnowsTheSuitesSecrets(t *testing.T) {
	// A real run: its token (in the sink) and its signature (at the AWS
	// fake) join the scan, and its own log is clean.
	tokenFile := filepath.Join(t.TempDir(), "token")
	args := withDebugLog([]string{"--once", "--role", "vault-role", "--header-value", stack.HeaderValue, "--sink-file", tokenFile}, nil)
	w := watchRun(t, args, false)
	res := runAgent(t, "client1", nil, args...)
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	w.readSinks()
	s := w.scan()
	if kinds := s.find(res.stderr); len(kinds) != 0 {
		t.Fatalf("clean run reported: %q", kinds)
	}
	if !strings.Contains(res.stderr, `"level":"debug"`) {
		t.Error("runAgent did not turn on debug logging")
	}
	token := readToken(tokenFile)
	sigs := st.AWS.Signatures()
	if len(sigs) == 0 {
		t.Fatal("the AWS fake recorded no signature")
	}
	in := st.Instances["pathed"]
	for _, leak := range []struct{ log, want string }{
		{"token=" + token, "vault token"},
		{"sig " + sigs[len(sigs)-1], "sigv4 signature"},
		{"root " + st.RootToken, "vault root token"},
		{in.Creds.SecretAccessKey, "aws secret access key (pathed)"},
		{base64.StdEncoding.EncodeToString([]byte(`"` + in.Creds.SessionToken + `"`)), "aws session token (pathed), base64-encoded"},
	} {
		if got := s.find(res.stderr + leak.log); !slices.Contains(got, leak.want) {
			t.Errorf("find(log + %q) = %q, want %q among them", leak.log, got, leak.want)
		}
	}
}

func TestWithDebugLog(t *testing.T) {
	tests := []struct {
		args, env []string
		want      []string
	}{
		{[]string{"--once"}, nil, []string{"--log-level", "debug", "--once"}},
		{[]string{"--once", "--log-level", "warn"}, nil, []string{"--once", "--log-level", "warn"}},
		{[]string{"--log-level=error"}, nil, []string{"--log-level=error"}},
		{nil, []string{"XAUTH_LOG_LEVEL=info"}, nil},
		{[]string{"diagnose", "--config", "x"}, nil, []string{"diagnose", "--log-level", "debug", "--config", "x"}},
		{[]string{"exec", "--log-level", "info", "--", "sh"}, nil, []string{"exec", "--log-level", "info", "--", "sh"}},
		{[]string{"convert", "x.hcl"}, nil, []string{"convert", "x.hcl"}},
	}
	for _, tt := range tests {
		if got := withDebugLog(tt.args, tt.env); !slices.Equal(got, tt.want) {
			t.Errorf("withDebugLog(%q, %q) = %q, want %q", tt.args, tt.env, got, tt.want)
		}
	}
}

// longBase64RE finds runs of base64 as long as a signed header set or a
// session token; a redacted echo has none.
var longBase64RE = regexp.MustCompile(`[A-Za-z0-9+/]{100,}`)

// Something between the agent and Vault that echoes requests back (a
// misbehaving proxy): --once prints the refusal with the echo redacted, and
// the daemon's renewal warn line does not show the token. The leak scan
// checks every line besides.
func TestEchoingProxyLeaksNothing(t *testing.T) {
	shortRole(t, "echo-short")
	proxy, err := faultproxy.Start(st.VaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	t.Run("once", func(t *testing.T) {
		proxy.Set(faultproxy.Fault{Mode: faultproxy.Echo, Status: http.StatusBadRequest})
		res := runAgent(t, "client1", nil, "--once", "--vault-addr", proxy.URL(), "--role", "vault-role", "--header-value", stack.HeaderValue)
		if res.code != exitRefused {
			t.Fatalf("exit %d, want %d: %s", res.code, exitRefused, res.stderr)
		}
		if !strings.Contains(res.stderr, "PUT /v1/auth/aws/login") || !strings.Contains(res.stderr, `"iam_request_headers":"[redacted]"`) {
			t.Errorf("stderr should show the echo with the signed headers redacted:\n%s", res.stderr)
		}
		if m := longBase64RE.FindString(res.stderr); m != "" || authSignatureRE.MatchString(res.stderr) {
			t.Errorf("stderr shows signed material (%.40s...):\n%s", m, res.stderr)
		}
	})

	t.Run("daemon renewal", func(t *testing.T) {
		proxy.Set(faultproxy.Fault{Mode: faultproxy.Pass})
		file := filepath.Join(t.TempDir(), "token")
		d := startDaemon(t, "client1", nil, "--vault-addr", proxy.URL(), "--role", "echo-short",
			"--header-value", stack.HeaderValue, "--sink-file", file)
		waitFor(t, 15*time.Second, "the first token", func() bool { return readToken(file) != "" })
		tok := readToken(file)
		proxy.Set(faultproxy.Fault{Mode: faultproxy.Echo, Status: http.StatusForbidden})
		waitFor(t, 15*time.Second, "a renewal refused by the echo", func() bool {
			return strings.Contains(d.stderr.String(), `"msg":"renewal failed"`)
		})
		log := d.stderr.String()
		if strings.Contains(log, tok) {
			t.Fatal("the token reached the daemon's log")
		}
		if !strings.Contains(log, "X-Vault-Token: [redacted]") {
			t.Errorf("the warn line should show the echo, redacted:\n%s", log)
		}
	})
}
