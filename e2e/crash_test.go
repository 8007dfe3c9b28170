package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// Vault 1.21 service tokens: "hvs." and the base64url of a protobuf.
var (
	tokenRE    = regexp.MustCompile(`^hvs\.[A-Za-z0-9_-]{24,}$`)
	tempFileRE = regexp.MustCompile(`^\.(token|token\.json|token\.env)\.tmp-[0-9a-f]{16}$`)
)

// crashSinks are the sinks of the crash test: file name -> format.
var crashSinks = []struct{ name, format string }{
	{"token", "token"},
	{"token.json", "json"},
	{"token.env", "env"},
}

// crashIterations is XAUTH_CRASH_ITERATIONS, 25 by default (make stress
// sets 1000).
func crashIterations(t *testing.T) int {
	n, err := stack.PositiveEnv("XAUTH_CRASH_ITERATIONS", 25)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// parseSink checks that content is one complete token in format and
// returns the token, and for json the expiry.
func parseSink(format string, content []byte) (token string, err error) {
	switch format {
	case "token":
		token = string(content)
	case "env":
		rest, ok := bytes.CutPrefix(content, []byte("VAULT_TOKEN="))
		if !ok || !bytes.HasSuffix(rest, []byte("\n")) || bytes.Count(content, []byte("\n")) != 1 {
			return "", fmt.Errorf("env sink is not exactly VAULT_TOKEN=<token>\\n: %q", content)
		}
		token = string(rest[:len(rest)-1])
	case "json":
		if !bytes.HasSuffix(content, []byte("}\n")) {
			return "", fmt.Errorf("json sink does not end in }\\n: %q", content)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(content, &fields); err != nil {
			return "", fmt.Errorf("json sink: %v: %q", err, content)
		}
		var keys []string
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"accessor", "expires_at", "lease_duration", "policies", "renewable", "token"}; !slices.Equal(keys, want) {
			return "", fmt.Errorf("json sink has fields %q, want %q", keys, want)
		}
		var v struct {
			Token         string
			Accessor      string
			Policies      []string
			LeaseDuration int `json:"lease_duration"`
			Renewable     bool
			ExpiresAt     time.Time `json:"expires_at"`
		}
		if err := json.Unmarshal(content, &v); err != nil {
			return "", fmt.Errorf("json sink: %v: %q", err, content)
		}
		if v.Accessor == "" || !slices.Contains(v.Policies, "admin") || v.LeaseDuration != 1 || !v.Renewable || v.ExpiresAt.IsZero() {
			return "", fmt.Errorf("json sink content: %+v", v)
		}
		token = v.Token
	default:
		return "", fmt.Errorf("unknown format %q", format)
	}
	if !tokenRE.MatchString(token) {
		return "", fmt.Errorf("%s sink holds %q, not a whole Vault token", format, token)
	}
	return token, nil
}

// crashState is what the crash test learns across kills.
type crashState struct {
	dir string

	mu       sync.Mutex
	errs     []string        // failures found by the watcher
	written  map[string]bool // sink name -> has ever held a token
	tokens   map[string]bool // every token seen in a sink
	verified int             // tokens lookup-self accepted
	late     int             // tokens first seen too late to look up
}

// read checks one sink file: absent only before its first write, otherwise
// a whole token in its format. A new token is looked up in Vault at once.
func (c *crashState) read(name, format string) error {
	content, err := os.ReadFile(filepath.Join(c.dir, name))
	c.mu.Lock()
	written := c.written[name]
	c.mu.Unlock()
	switch {
	case errors.Is(err, fs.ErrNotExist) && !written:
		return nil
	case err != nil:
		return fmt.Errorf("%s after its first write: %w", name, err)
	}
	tok, err := parseSink(format, content)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.written[name] = true
	known := c.tokens[tok]
	c.tokens[tok] = true
	c.mu.Unlock()
	if known {
		return nil
	}
	// Seen within milliseconds of its write, the token has most of its
	// one-second life left: Vault must accept it.
	firstSeen := time.Now()
	_, lerr := tokenTTL(tok)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case lerr == nil:
		c.verified++
	case time.Since(firstSeen) < 500*time.Millisecond:
		return fmt.Errorf("%s holds a token Vault refuses right after it appeared: %v", name, lerr)
	default:
		c.late++
	}
	return nil
}

func (c *crashState) readAll() []string {
	var errs []string
	for _, s := range crashSinks {
		if err := c.read(s.name, s.format); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return errs
}

// watch reads every sink every 5 ms until stop closes, as an application
// reading the token would; every read must find a whole token.
func (c *crashState) watch(stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if errs := c.readAll(); len(errs) > 0 {
				c.mu.Lock()
				c.errs = append(c.errs, errs...)
				c.mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return done
}

// leftovers lists the temp files in the sink directory and fails on any
// file that is neither a sink nor a sink's temp file.
func (c *crashState) leftovers(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	var temps []string
	for _, e := range entries {
		switch {
		case tempFileRE.MatchString(e.Name()):
			temps = append(temps, e.Name())
		case !slices.ContainsFunc(crashSinks, func(s struct{ name, format string }) bool { return s.name == e.Name() }):
			t.Errorf("unexpected file %s in the sink directory", e.Name())
		}
	}
	return temps
}

// firstLogTime returns the time of the first log line with msg.
func firstLogTime(log, msg string) (time.Time, bool) {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"msg":"`+msg+`"`) {
			continue
		}
		var v struct{ TS string }
		if json.Unmarshal([]byte(line), &v) != nil {
			return time.Time{}, false
		}
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", v.TS)
		return at, err == nil
	}
	return time.Time{}, false
}

// TestCrashSafety kills the daemon with SIGKILL at random moments while it
// rotates its token (a role with a 1 s TTL and max TTL: a login on every
// start and then one a second, the renew policy's floor), and checks that
// every sink file always holds a whole token in its format, or nothing
// before its first write; that temp files a kill left behind are removed by
// the next start; and that the tokens are real. XAUTH_CRASH_ITERATIONS sets
// the number of kills (make stress: 1000).
func TestCrashSafety(t *testing.T) {
	iterations := crashIterations(t)
	const role = "crash-safety"
	if _, err := st.Vault.Logical().Write("auth/aws/role/"+role, map[string]any{
		"auth_type": "iam", "policies": "admin",
		"bound_iam_principal_arn": "arn:aws:iam::222222222222:role/vault-secondary*",
		"token_ttl":               "1s", "token_max_ttl": "1s",
	}); err != nil {
		t.Fatal(err)
	}
	c := &crashState{dir: t.TempDir(), written: map[string]bool{}, tokens: map[string]bool{}}
	cfg := fmt.Sprintf("vault {\n  address = %q\n}\nauth \"aws\" {\n  role = %q\n  header_value = %q\n}\n", st.VaultAddr, role, stack.HeaderValue)
	for _, s := range crashSinks {
		cfg += fmt.Sprintf("sink \"file\" {\n  path = %q\n  format = %q\n}\n", filepath.Join(c.dir, s.name), s.format)
	}
	cfgPath := writeFile(t, "agent.hcl", cfg)

	var (
		pending                 []string // temp files the next start must remove
		logins, writes, cleaned int
		kills, killedMidWrite   int
		maxDelay                = 1500 * time.Millisecond
	)
	logCount := func(log, msg string) int { return strings.Count(log, `"msg":"`+msg+`"`) }
	// Every other kill aims at the moment the last daemon first wrote its
	// sinks, give or take 10 ms, where a kill is most likely to interrupt a
	// write; the others fall anywhere in the first maxDelay.
	var firstWrite time.Duration
	for i := range iterations {
		ok := t.Run(fmt.Sprintf("kill%04d", i+1), func(t *testing.T) {
			d := startDaemon(t, "client1", nil, "--config", cfgPath)
			started := time.Now()
			stop := make(chan struct{})
			watched := c.watch(stop)
			delay := rand.N(maxDelay)
			if i%2 == 1 && firstWrite > 10*time.Millisecond {
				delay = firstWrite - 10*time.Millisecond + rand.N(20*time.Millisecond)
			}
			select {
			case <-time.After(delay):
			case err := <-d.exited:
				d.exited <- err
				close(stop)
				<-watched
				t.Fatalf("the daemon exited on its own: %v", err)
			}
			_ = d.cmd.Process.Kill()
			kills++
			err := <-d.exited
			d.exited <- err
			close(stop)
			<-watched

			c.mu.Lock()
			errs := c.errs
			c.errs = nil
			c.mu.Unlock()
			errs = append(errs, c.readAll()...)
			for _, e := range errs {
				t.Error(e)
			}
			log := d.stderr.String()
			if at, ok := firstLogTime(log, "token written"); ok {
				firstWrite = at.Sub(started)
			}
			logins += logCount(log, "new token")
			writes += logCount(log, "token written")
			cleaned += logCount(log, "removed leftover temp file")
			if logCount(log, "daemon started") > 0 { // every sink's Check ran
				for _, p := range pending {
					if _, err := os.Lstat(filepath.Join(c.dir, p)); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("temp file %s left by an earlier kill survived the restart (%v)", p, err)
					}
				}
				pending = nil
			}
			now := c.leftovers(t)
			for _, p := range now {
				if !slices.Contains(pending, p) {
					pending = append(pending, p)
					killedMidWrite++
				}
			}
		})
		if !ok {
			break
		}
	}

	// One more start: its Check removes what the last kills left.
	t.Run("restart", func(t *testing.T) {
		d := startDaemon(t, "client1", nil, "--config", cfgPath)
		waitFor(t, 15*time.Second, "the daemon to start", func() bool {
			return logCount(d.stderr.String(), "daemon started") > 0
		})
		for _, p := range pending {
			if _, err := os.Lstat(filepath.Join(c.dir, p)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("temp file %s survived the restart (%v)", p, err)
			}
		}
		cleaned += logCount(d.stderr.String(), "removed leftover temp file")
		waitFor(t, 15*time.Second, "a token in every sink", func() bool {
			return logCount(d.stderr.String(), "token in every sink") > 0
		})
		for _, e := range c.readAll() {
			t.Error(e)
		}
	})

	c.mu.Lock()
	defer c.mu.Unlock()
	t.Logf("%d kills (half at random within %v of the start, half aimed at the first write): %d logins (token rotations), %d sink writes, %d distinct tokens seen, "+
		"%d accepted by lookup-self (%d seen too late to look up); %d kills left a temp file, %d temp files removed by the next start",
		kills, maxDelay, logins, writes, len(c.tokens), c.verified, c.late, killedMidWrite, cleaned)
	if c.verified == 0 {
		t.Error("no token from the sinks was ever accepted by lookup-self")
	}
	if writes == 0 {
		t.Error("no kill came after a write")
	}
}
