package e2e

// The HA tests run the agent against a three-node Vault cluster
// (stack.Cluster: real cores on shared in-memory HA storage, standbys that
// forward requests to the active node). The cluster starts on first use,
// next to the suite's single Vault, with the same AWS fake and IMDS
// emulators; every test leaves it whole again (haCluster's cleanup).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/e2e/faultproxy"
	"github.com/xauth-agent/xauth-agent/e2e/stack"
	"github.com/xauth-agent/xauth-agent/internal/localapi"
)

const haNodes = 3

var ha struct {
	once sync.Once
	cl   *stack.Cluster
	err  error
}

// haCluster returns the suite's cluster, started on first use. The test's
// cleanup brings every node back: running, unsealed, standbys forwarding.
func haCluster(t *testing.T) *stack.Cluster {
	t.Helper()
	ha.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		ha.cl, ha.err = st.StartCluster(ctx, haNodes)
		t.Logf("%d-node Vault cluster up and configured in %v", haNodes, time.Since(start).Round(10*time.Millisecond))
	})
	if ha.err != nil {
		t.Fatalf("start the HA cluster: %v", ha.err)
	}
	t.Cleanup(func() {
		if err := ha.cl.Heal(haCtx(t, time.Minute)); err != nil {
			t.Errorf("bring the HA cluster back: %v", err)
		}
	})
	return ha.cl
}

// haCtx is a context for cluster operations that ends with the test or
// after d.
func haCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// haClient is a root client on node i.
func haClient(t *testing.T, cl *stack.Cluster, i int) *api.Client {
	t.Helper()
	c, err := cl.Client(i)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// haActive waits for the active node.
func haActive(t *testing.T, cl *stack.Cluster) int {
	t.Helper()
	i, err := cl.Active(haCtx(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// haStandby is a node that answers as a standby now.
func haStandby(t *testing.T, cl *stack.Cluster) int {
	t.Helper()
	s := cl.Standbys(haCtx(t, 10*time.Second))
	if len(s) == 0 {
		t.Fatalf("no standby: nodes are %v", cl.States(haCtx(t, 10*time.Second)))
	}
	return s[0]
}

// haNode is node i as the cluster process counts it.
func haNode(t *testing.T, cl *stack.Cluster, i int) stack.Node {
	t.Helper()
	nodes, err := cl.Nodes(haCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return nodes[i]
}

// startHADaemon starts the daemon on client1 with role, writing file and
// talking to Vault at addrs, in that order.
func startHADaemon(t *testing.T, role, file string, addrs ...string) *daemonProc {
	t.Helper()
	return startHADaemonWith(t, role, file, "", addrs...)
}

// startHADaemonWith is startHADaemon with more blocks of config file (HCL).
// The addresses are the file's vault.address list: the environment's
// VAULT_ADDR, which would replace it, is cleared.
func startHADaemonWith(t *testing.T, role, file, more string, addrs ...string) *daemonProc {
	t.Helper()
	quoted := make([]string, len(addrs))
	for i, a := range addrs {
		quoted[i] = strconv.Quote(a)
	}
	cfg := writeFile(t, "agent.hcl", fmt.Sprintf("vault {\n  address = [%s]\n}\n%s", strings.Join(quoted, ", "), more))
	return startDaemon(t, "client1", []string{"VAULT_ADDR="}, "--config", cfg, "--role", role,
		"--header-value", stack.HeaderValue, "--sink-file", file)
}

// refuses reports whether a TCP connection to the http:// address addr is
// refused, as it is to a stopped Vault server.
func refuses(addr string) bool {
	u, err := url.Parse(addr)
	if err != nil {
		return false
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err == nil {
		c.Close()
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// sinkWatch samples a token file every 100 ms and asks the cluster about
// every sample; a token Vault refuses is a dead sample.
//
// No client keeps a token alive while Vault answers nobody: a renewal
// sent shortly before expiry that waits out a leader change (seconds on a
// loaded machine) comes back too late, whoever sent it. The watch measures
// such stalls itself (its own lookups wait just as long) and checks what
// the agent controls: outside a stall, and from afterStall after one, the
// sink holds a live token.
type sinkWatch struct {
	cl    *stack.Cluster
	path  string
	start time.Time
	stopc chan struct{}
	done  chan struct{}

	samples int
	dead    []time.Duration // when, since the watch started (never the token itself)
	stalls  []span          // lookups slower than stallAfter, since the watch started
	tokens  map[string]bool
	errs    []error // samples the cluster gave no answer about
}

const (
	// stallAfter is a lookup slow enough to say that the cluster answered
	// nobody meanwhile; an answer takes milliseconds.
	stallAfter = 250 * time.Millisecond
	// afterStall is how soon after a stall the sink must hold a live token
	// again: the agent's pending request is answered and, if its token died
	// meanwhile, it logs in again.
	afterStall = 3 * time.Second
)

type span struct{ from, to time.Duration }

func watchSink(cl *stack.Cluster, path string) *sinkWatch {
	w := &sinkWatch{cl: cl, path: path, start: time.Now(), stopc: make(chan struct{}), done: make(chan struct{}), tokens: map[string]bool{}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			w.sample()
			select {
			case <-w.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *sinkWatch) sample() {
	tok := readToken(w.path)
	if tok == "" {
		return
	}
	at := time.Since(w.start)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	valid, err := w.cl.TokenValid(ctx, tok)
	if took := time.Since(w.start) - at; took > stallAfter {
		w.stalls = append(w.stalls, span{at, at + took})
	}
	w.samples++
	w.tokens[tok] = true
	switch {
	case err != nil:
		w.errs = append(w.errs, err)
	case !valid:
		w.dead = append(w.dead, at)
	}
}

// stop ends the watch; its figures are final afterwards.
func (w *sinkWatch) stop() *sinkWatch {
	close(w.stopc)
	<-w.done
	return w
}

// check fails the test on a dead sample outside a stall and its
// afterStall, an unanswered sample, or fewer than minTokens distinct
// tokens.
func (w *sinkWatch) check(t *testing.T, name string, minTokens int) {
	t.Helper()
	var longest time.Duration
	for _, s := range w.stalls {
		longest = max(longest, s.to-s.from)
	}
	var inStall int
	var dead []time.Duration
	for _, d := range w.dead {
		if slices.ContainsFunc(w.stalls, func(s span) bool { return s.from <= d && d <= s.to+afterStall }) {
			inStall++
		} else {
			dead = append(dead, d)
		}
	}
	t.Logf("%s: %d samples, %d tokens; the cluster stalled %d times (longest %v), %d dead samples during or right after a stall",
		name, w.samples, len(w.tokens), len(w.stalls), longest.Round(time.Millisecond), inStall)
	if len(dead) > 0 {
		t.Errorf("%s: %d of %d samples held a token Vault refuses while the cluster answered (at %v)", name, len(dead), w.samples, dead)
	}
	if len(w.errs) > 0 {
		t.Errorf("%s: the cluster gave no answer about %d samples: %v", name, len(w.errs), w.errs[0])
	}
	if len(w.tokens) < minTokens {
		t.Errorf("%s: %d distinct tokens, want at least %d (renewal and re-login across the window)", name, len(w.tokens), minTokens)
	}
}

// The harness itself: each control does what it says, and the storage
// outlives the whole cluster going down. Each control's duration is logged.
func TestHAClusterControls(t *testing.T) {
	cl := haCluster(t)
	ctx := haCtx(t, 2*time.Minute)
	timed := func(what string, control func() error) {
		t.Helper()
		start := time.Now()
		if err := control(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
	}
	addrs := cl.Addrs()
	active := haActive(t, cl)
	created, err := haClient(t, cl, haStandby(t, cl)).Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"admin"}, TTL: "1h"})
	if err != nil {
		t.Fatalf("create a token through a standby: %v", err)
	}
	tok := created.Auth.ClientToken

	var next int
	timed("step down", func() (err error) { next, err = cl.StepDown(ctx); return err })
	if next == active || cl.States(ctx)[active] != stack.Standby {
		t.Fatalf("after step-down: active %d (was %d), nodes %v", next, active, cl.States(ctx))
	}

	// Not the node that stepped down: it sleeps through Vault's 10 s
	// step-down pause and its shutdown waits for that.
	standby := -1
	for _, i := range cl.Standbys(ctx) {
		if i != active {
			standby = i
		}
	}
	if standby < 0 {
		t.Fatalf("no standby besides the node that stepped down: nodes %v", cl.States(ctx))
	}
	timed("seal a standby (restart it sealed)", func() error { return cl.Seal(ctx, standby) })
	_, err = haClient(t, cl, standby).Auth().Token().LookupSelfWithContext(ctx)
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 503 {
		t.Fatalf("a request to the sealed node: %v, want a 503", err)
	}
	timed("unseal it, ready", func() error { return cl.Unseal(ctx, standby) })

	active = haActive(t, cl)
	timed("seal the active node", func() error { return cl.Seal(ctx, active) })
	if next := haActive(t, cl); next == active {
		t.Fatal("the sealed active node is still active")
	}
	timed("unseal it, ready", func() error { return cl.Unseal(ctx, active) })

	active = haActive(t, cl)
	timed("stop the active node", func() error { return cl.Stop(ctx, active) })
	if !refuses(addrs[active]) {
		t.Fatalf("stopped node %d: %s does not refuse connections", active, addrs[active])
	}
	if next := haActive(t, cl); next == active {
		t.Fatal("the stopped node is still active")
	}
	timed("start it, ready", func() error { return cl.Start(ctx, active) })
	if s := cl.States(ctx)[active]; s != stack.Standby {
		t.Fatalf("node %d after its restart: %v, want standby", active, s)
	}

	timed("stop every node", func() error { return cl.StopAll(ctx) })
	for i, a := range addrs {
		if !refuses(a) {
			t.Fatalf("whole cluster stopped: node %d (%s) does not refuse connections", i, a)
		}
	}
	timed("start every node, ready", func() error { return cl.StartAll(ctx) })
	if valid, err := cl.TokenValid(ctx, tok); err != nil || !valid {
		t.Fatalf("a token issued before the whole cluster went down: valid %v, %v", valid, err)
	}
}

// (a) The daemon talks to a standby only: its logins and renewals reach the
// active node by request forwarding, never by redirect.
func TestHAStandbyForwardsLoginAndRenewal(t *testing.T) {
	cl := haCluster(t)
	shortRoleOn(t, haClient(t, cl, haActive(t, cl)), "ha-standby")
	standby := haStandby(t, cl)
	proxy, err := faultproxy.Start(cl.Addrs()[standby]) // counts the daemon's requests by path
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	before := haNode(t, cl, standby)
	file := filepath.Join(t.TempDir(), "token")
	startHADaemon(t, "ha-standby", file, proxy.URL())

	waitFor(t, 15*time.Second, "the first token", func() bool { return readToken(file) != "" })
	w := watchSink(cl, file)
	time.Sleep(20 * time.Second) // the observation window: 4 s tokens, 12 s at most
	w.stop().check(t, "sink", 2)

	after := haNode(t, cl, standby)
	paths := proxy.RequestsByPath()
	renewals, logins := paths["/v1/auth/token/renew-self"], paths["/v1/auth/aws/login"]
	t.Logf("via standby node %d: %d logins, %d renewals; the node served %d requests, redirected %d",
		standby, logins, renewals, after.Requests-before.Requests, after.Redirects-before.Redirects)
	if renewals < 2 || logins < 2 {
		t.Errorf("want ≥ 2 renewals and a re-login; got %d renewals, %d logins", renewals, logins)
	}
	if after.Redirects != before.Redirects {
		t.Errorf("the standby redirected %d requests instead of forwarding them", after.Redirects-before.Redirects)
	}
	if got := after.Requests - before.Requests; got < proxy.Requests() {
		t.Errorf("the standby served %d requests, fewer than the %d the daemon sent", got, proxy.Requests())
	}
	if s := cl.States(haCtx(t, 10*time.Second))[standby]; s != stack.Standby {
		t.Errorf("node %d is %v at the end, so the test did not run against a standby", standby, s)
	}
}

// (b) The active node steps down, twice, while two daemons run: one
// pointed at the node that was active, one at a standby. Their sinks never
// hold a token Vault refuses.
func TestHAFailoverStepDownNoDeadToken(t *testing.T) {
	cl := haCluster(t)
	shortRoleOn(t, haClient(t, cl, haActive(t, cl)), "ha-stepdown")
	addrs := cl.Addrs()
	active, standby := haActive(t, cl), haStandby(t, cl)
	runs := []*struct {
		name  string
		node  int
		file  string
		d     *daemonProc
		watch *sinkWatch
	}{{name: "daemon on the active node", node: active}, {name: "daemon on a standby node", node: standby}}
	for _, r := range runs {
		r.file = filepath.Join(t.TempDir(), "token")
		r.d = startHADaemon(t, "ha-stepdown", r.file, addrs[r.node])
	}
	for _, r := range runs {
		waitFor(t, 15*time.Second, "the first token of the "+r.name, func() bool { return readToken(r.file) != "" })
		r.watch = watchSink(cl, r.file)
	}

	start := time.Now()
	time.Sleep(4 * time.Second)
	for range 2 {
		from := haActive(t, cl)
		begun := time.Now()
		to, err := cl.StepDown(haCtx(t, time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("node %d stepped down, node %d active and every standby forwarding after %v", from, to, time.Since(begun).Round(time.Millisecond))
		time.Sleep(8 * time.Second) // across a renewal and a re-login
	}
	for _, r := range runs {
		r.watch.stop().check(t, r.name, 2)
		t.Logf("%s: %d failed attempts logged across the step-downs", r.name, failedAttempts(r.d.stderr.String(), start, time.Now()))
	}
}

// failedAttempts counts the logins and renewals the agent's JSON log says
// failed in [since, until] (one line per attempt). A stopped node refuses
// connections, so no server sees those attempts: the agent's log does.
func failedAttempts(log string, since, until time.Time) int {
	n := 0
	for _, e := range attempts(log, since, until) {
		if !e.ok {
			n++
		}
	}
	return n
}

// attempt is one login or renewal in the agent's log: the Vault address
// its request went to and whether it succeeded.
type attempt struct {
	at      time.Time
	address string
	ok      bool
}

// attempts lists the logins and renewals the agent's JSON log shows in
// [since, until], in order. Each request's address is its debug line
// "vault request" (the daemon of the tests logs at debug level).
func attempts(log string, since, until time.Time) []attempt {
	var out []attempt
	address := ""
	for line := range strings.Lines(log) {
		var l struct {
			TS      time.Time `json:"ts"`
			Msg     string    `json:"msg"`
			Address string    `json:"vault_address"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.TS.Before(since) || l.TS.After(until) {
			continue
		}
		switch l.Msg {
		case "vault request":
			address = l.Address
		case "login failed", "renewal failed", "new token", "token renewed":
			out = append(out, attempt{at: l.TS, address: address, ok: l.Msg == "new token" || l.Msg == "token renewed"})
			address = ""
		}
	}
	return out
}

// HashiCorp's reference client logs in through each standby, and a
// refusal comes back through forwarding with Vault's own message.
func TestHAReferenceClientViaStandby(t *testing.T) {
	cl := haCluster(t)
	ctx := haCtx(t, time.Minute)
	for _, i := range cl.Standbys(ctx) {
		before := haNode(t, cl, i)
		vc := haClient(t, cl, i)
		tok, err := referenceLoginAt(t, vc, "client1", "vault-role", stack.HeaderValue)
		if err != nil {
			t.Fatalf("reference login through standby %d: %v", i, err)
		}
		if valid, err := cl.TokenValid(ctx, tok); err != nil || !valid {
			t.Fatalf("the token from standby %d: valid %v, %v", i, valid, err)
		}
		_, err = referenceLoginAt(t, vc, "client1", "vault-role2", stack.HeaderValue)
		if err == nil || !strings.Contains(err.Error(), `does not belong to the role "vault-role2"`) {
			t.Fatalf("refused login through standby %d: %v, want Vault's refusal", i, err)
		}
		if after := haNode(t, cl, i); after.Redirects != before.Redirects {
			t.Errorf("standby %d redirected instead of forwarding", i)
		}
	}
}

// haStatus is the daemon's /v1/status, through `xauth-agent status --json`.
func haStatus(t *testing.T, sock string) localapi.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, agentBin, "status", "--json", "--socket", sock).Output() // exits 3 without a valid token
	var st localapi.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("xauth-agent status --json: %v:\n%s", err, out)
	}
	return st
}

// addressStates is the state of each address in st, in the configured order.
func addressStates(st localapi.Status) []string {
	var out []string
	for _, a := range st.Vault {
		out = append(out, a.State)
	}
	return out
}

// startHASocketDaemon is startHADaemon with a socket sink and the
// lifecycle's min_backoff and max_backoff; it returns the socket's and the
// token file's paths.
func startHASocketDaemon(t *testing.T, role, minBackoff, maxBackoff string, addrs ...string) (d *daemonProc, sock, file string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "xa-ha-") // unix socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, file = filepath.Join(dir, "agent.sock"), filepath.Join(dir, "token")
	more := fmt.Sprintf("lifecycle {\n  min_backoff = %q\n  max_backoff = %q\n}\nsink \"socket\" {\n  path = %q\n}\n", minBackoff, maxBackoff, sock)
	return startHADaemonWith(t, role, file, more, addrs...), sock, file
}

// checkMoved fails the test unless, from since on, the first failed
// attempt went to from and the attempt right after it (the first retry,
// one backoff step later) went to another address and succeeded; and no
// two attempts in a row failed.
func checkMoved(t *testing.T, what string, log string, since time.Time, from string) {
	t.Helper()
	as := attempts(log, since, time.Now())
	first := slices.IndexFunc(as, func(a attempt) bool { return !a.ok })
	switch {
	case first < 0:
		t.Errorf("%s: no failed attempt logged since, so the agent did not ask %s: %+v", what, from, as)
	case as[first].address != from:
		t.Errorf("%s: the first failed attempt went to %q, want %s: %+v", what, as[first].address, from, as)
	case first+1 == len(as):
		t.Errorf("%s: no attempt after the failure: %+v", what, as)
	case !as[first+1].ok || as[first+1].address == from:
		t.Errorf("%s: the first retry after the failure went to %q (ok %v), want another address, answering: %+v",
			what, as[first+1].address, as[first+1].ok, as)
	default:
		t.Logf("%s: %s failed at %s, the retry %v later went to %s and succeeded; %d attempts since, %d failed (coming back to %s after each cool-down)",
			what, from, as[first].at.Format(time.TimeOnly), as[first+1].at.Sub(as[first].at).Round(time.Millisecond),
			as[first+1].address, len(as), failedAttempts(log, since, time.Now()), from)
	}
	for i := 1; i < len(as); i++ {
		if !as[i-1].ok && !as[i].ok {
			t.Errorf("%s: two failed attempts in a row (to %s, then %s) while other nodes answered: %+v", what, as[i-1].address, as[i].address, as)
			break
		}
	}
}

// (c) The daemon is given every node; the node it uses (a standby, listed
// first) is sealed: it moves to the next address on its first retry, and
// comes back once the node is unsealed. The node is then stopped: again it
// moves on at its first retry. /v1/status shows each address's state.
func TestHAFailoverSealedThenStopped(t *testing.T) {
	cl := haCluster(t)
	shortRoleOn(t, haClient(t, cl, haActive(t, cl)), "ha-failover")
	first := haStandby(t, cl) // a standby: the cluster keeps serving while it is sealed and stopped
	addrs := []string{cl.Addrs()[first]}
	for i, a := range cl.Addrs() {
		if i != first {
			addrs = append(addrs, a)
		}
	}
	d, sock, file := startHASocketDaemon(t, "ha-failover", "1s", "8s", addrs...)
	waitFor(t, 15*time.Second, "the first token", func() bool { return readToken(file) != "" })
	if st := addressStates(haStatus(t, sock)); !slices.Equal(st, []string{"up", "unknown", "unknown"}) {
		t.Fatalf("address states at start: %v, want up, unknown, unknown", st)
	}

	sealed := time.Now()
	if err := cl.Seal(haCtx(t, time.Minute), first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the sealed node marked down", func() bool { return haStatus(t, sock).Vault[0].State == "down" })
	time.Sleep(10 * time.Second) // renewals and re-logins on the other nodes, and a try of the sealed one after its cool-down
	checkMoved(t, "sealed", d.stderr.String(), sealed, addrs[0])
	if st := haStatus(t, sock); st.TokenState != "valid" || st.Vault[0].LastError == "" {
		t.Errorf("while the node is sealed: token %s, first address %+v", st.TokenState, st.Vault[0])
	}

	if err := cl.Unseal(haCtx(t, time.Minute), first); err != nil {
		t.Fatal(err)
	}
	unsealed := time.Now()
	waitFor(t, 30*time.Second, "the agent back on the first address", func() bool { return haStatus(t, sock).Vault[0].State == "up" })
	t.Logf("back on the first address %v after the unseal", time.Since(unsealed).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second) // a renewal there

	stopped := time.Now()
	if err := cl.Stop(haCtx(t, time.Minute), first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the stopped node marked down", func() bool { return haStatus(t, sock).Vault[0].State == "down" })
	time.Sleep(10 * time.Second)
	checkMoved(t, "stopped", d.stderr.String(), stopped, addrs[0])
	st := haStatus(t, sock)
	if st.TokenState != "valid" || !strings.Contains(st.Vault[0].LastError, "connection refused") {
		t.Errorf("while the node is stopped: token %s, first address %+v", st.TokenState, st.Vault[0])
	}
	if valid, err := cl.TokenValid(haCtx(t, 20*time.Second), readToken(file)); err != nil || !valid {
		t.Errorf("the sink's token at the end: valid %v, %v", valid, err)
	}
	t.Logf("/v1/status vault: %+v", st.Vault)
}

// (d) The whole cluster is down for 60 s, then back: the agent sends at
// most 10 requests meanwhile (one per attempt, its backoff spacing them)
// and holds a live token within 20 s of the cluster's return.
func TestHAFailoverWholeClusterDown(t *testing.T) {
	cl := haCluster(t)
	shortRoleOn(t, haClient(t, cl, haActive(t, cl)), "ha-outage")
	d, sock, file := startHASocketDaemon(t, "ha-outage", "2s", "15s", cl.Addrs()...)
	waitFor(t, 15*time.Second, "the first token", func() bool { return readToken(file) != "" })
	time.Sleep(3 * time.Second)

	ctx := haCtx(t, 3*time.Minute)
	if err := cl.StopAll(ctx); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	time.Sleep(60 * time.Second)
	st := haStatus(t, sock)
	up := time.Now()
	if err := cl.StartAll(ctx); err != nil {
		t.Fatal(err)
	}
	ready := time.Now()
	during := failedAttempts(d.stderr.String(), down, up)
	t.Logf("60 s outage: %d requests to Vault; address states at its end %v; the cluster was ready %v after StartAll",
		during, addressStates(st), ready.Sub(up).Round(100*time.Millisecond))
	if during > 10 {
		t.Errorf("%d requests during the 60 s outage, want at most 10", during)
	}
	if during == 0 {
		t.Error("no failed attempt during the outage: the agent did not notice it")
	}
	// Down, or not asked: an address is asked again once its cool-down is
	// over, before a later one that was never asked.
	if states := addressStates(st); slices.Contains(states, "up") || states[0] != "down" {
		t.Errorf("address states at the outage's end: %v, want none up", states)
	}
	waitFor(t, 20*time.Second, "a live token after the cluster's return", func() bool {
		valid, err := cl.TokenValid(ctx, readToken(file))
		return err == nil && valid
	})
	t.Logf("a live token %v after the cluster was ready (%v after StartAll)", time.Since(ready).Round(100*time.Millisecond), time.Since(up).Round(100*time.Millisecond))
}
