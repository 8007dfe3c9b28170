package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/token"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/e2e/faultproxy"
	"github.com/xauth-agent/xauth-agent/e2e/stack"
	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/login"
	"github.com/xauth-agent/xauth-agent/internal/renew"
	"github.com/xauth-agent/xauth-agent/internal/state"
)

const (
	fleetRole   = "bench-fleet"
	fleetTTL    = 30 * time.Second // shorter than the outage: every token expires during it
	fleetMaxTTL = 10 * time.Minute // no max-TTL re-login while measuring
	fleetOutage = 60 * time.Second
	restartTTL  = 10 * time.Minute // the restarted fleet's tokens: a restart takes seconds, well inside their grace
	fleetSettle = 10 * time.Second // after the cold start, before the outage
	fleetRamp   = 3 * time.Minute  // longest wait for the cold start
	fleetWatch  = 3 * time.Minute  // longest wait for recovery after Vault's return
	fleetSample = 20               // tokens checked with lookup-self after recovery
	virtualRuns = 20               // virtual fleets, for the policy-only rows

	spreadGoal   = 30 * time.Second
	recoveryGoal = 60 * time.Second
)

// fleetAgent is one lifecycle, as the daemon runs it, with an in-memory
// sink.
type fleetAgent struct {
	loop *renew.Loop
	sink *memSink
}

// memSink records when each new token arrived in a lifecycle's state, as
// the daemon's sinks read it.
type memSink struct {
	state     *token.Latest
	mu        sync.Mutex
	published []time.Time
}

// watch records each new generation of the state until ctx ends.
func (m *memSink) watch(ctx context.Context) {
	var gen uint64
	for {
		st, changed := m.state.Load()
		if st.Generation != gen {
			gen = st.Generation
			m.mu.Lock()
			m.published = append(m.published, time.Now())
			m.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// firstAfter is when the first token published at or after t arrived.
func (m *memSink) firstAfter(t time.Time) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.published {
		if !p.Before(t) {
			return p, true
		}
	}
	return time.Time{}, false
}

func (m *memSink) since(t time.Time) []time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []time.Time
	for _, p := range m.published {
		if !p.Before(t) {
			out = append(out, p)
		}
	}
	return out
}

// measureFleet runs n lifecycles in this process against the real Vault
// behind a fault proxy: a cold start, then Vault answers 503 for
// fleetOutage (long enough for every token to expire), then it is back.
func measureFleet(ctx context.Context, e *env, n int) ([]row, error) {
	if err := writeFleetRole(ctx, e.st.Vault); err != nil {
		return nil, err
	}
	proxy, err := faultproxy.Start(e.st.VaultAddr)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	vc, err := fleetVaultClient(proxy.URL(), n, nil)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	agents, stop := startFleet(ctx, e, n, func(int) *api.Client { return vc }, nil)
	defer stop()
	cold, ok := waitAllValid(ctx, agents, started, fleetRamp)
	if !ok {
		return nil, fmt.Errorf("cold start: only %d of %d agents held a valid token after %v (proxy saw %v)",
			countValid(agents, time.Now()), n, fleetRamp, proxy.RequestsByPath())
	}
	coldLogins := proxy.RequestsByPath()[loginPath]
	if err := sleep(ctx, fleetSettle); err != nil {
		return nil, err
	}

	proxy.Set(faultproxy.Fault{Mode: faultproxy.Status, Status: http.StatusServiceUnavailable})
	proxy.ResetCounts()
	if err := sleep(ctx, fleetOutage); err != nil {
		return nil, err
	}
	proxy.Set(faultproxy.Fault{Mode: faultproxy.Pass})
	back := time.Now()
	during := proxy.RequestsByPath()
	proxy.ResetCounts()
	awsBefore := e.st.AWS.Counts()
	stillValid := countValid(agents, back)

	var out fleetOutcome
	out.agents = n
	for _, c := range during {
		out.outageRequests += c
	}
	out.recover(ctx, agents, back)
	after := proxy.RequestsByPath()
	awsAfter := e.st.AWS.Counts()

	checked, bad := sampleTokens(agents, func(tok string) error { return checkToken(ctx, e.st, tok) })

	e.note("fleet: %d lifecycles (renew.Loop + login.Client, one shared Vault client) in the bench process, role token_ttl %v, token_max_ttl %v; cold start %d logins in %s (%.0f logins/s end to end, Vault and the fleet sharing %d cores)",
		n, fleetTTL, fleetMaxTTL, coldLogins, secs(cold), float64(coldLogins)/cold.Seconds(), runtime.NumCPU())
	e.note("fleet outage: Vault answered 503 for %v via the proxy; %d of %d agents still held an unexpired token at the return; requests during it: %d logins, %d renewals",
		fleetOutage, stillValid, n, during[loginPath], during[renewPath])
	e.note("fleet recovery: %d login requests reached Vault until all were valid (%d successful re-logins), STS GetCallerIdentity %d, sts:AssumeRole %d; %d/%d sampled tokens valid by lookup-self",
		after[loginPath], len(out.relogins), awsAfter["GetCallerIdentity"]-awsBefore["GetCallerIdentity"], awsAfter["AssumeRole"]-awsBefore["AssumeRole"],
		checked-bad, checked)
	if bad > 0 {
		return nil, fmt.Errorf("%d of %d sampled fleet tokens failed lookup-self", bad, checked)
	}

	rows := fleetRows(fmt.Sprintf("fleet %d, real Vault, %.0f s outage (503)", n, fleetOutage.Seconds()), out)
	restart, err := restartFleet(ctx, e, proxy, vc, n, stop)
	if err != nil {
		return nil, err
	}
	rows = append(rows, restart)
	// The same fleet, policy only (Vault answers at once): started over the
	// measured cold start, and in steady state (phases spread over a whole
	// renewal period).
	same := worstVirtualFleet(n, cold)
	rows = append(rows, fleetRows(fmt.Sprintf("fleet %d, same start, policy only (virtual time, worst of %d)", n, virtualRuns), same)...)
	steady := worstVirtualFleet(n, fleetTTL*2/3)
	e.note("fleet %d, policy only, phases spread over a whole renewal period (worst of %d): %d requests during the outage, re-logins p10/p50/p90/last %s / %s / %s / %s, peak %d/s, all valid after %s",
		n, virtualRuns, steady.outageRequests, secs(percentile(steady.relogins, 10)), secs(percentile(steady.relogins, 50)),
		secs(percentile(steady.relogins, 90)), secs(percentile(steady.relogins, 100)), steady.peakPerSecond, secs(steady.allValid))
	return rows, nil
}

// sampleTokens checks the current tokens of fleetSample agents picked at
// random.
func sampleTokens(agents []*fleetAgent, check func(token string) error) (checked, bad int) {
	for _, i := range rand.Perm(len(agents))[:min(fleetSample, len(agents))] {
		checked++
		tok, _ := agents[i].loop.Current()
		if err := check(tok.Token); err != nil {
			bad++
		}
	}
	return checked, bad
}

// writeFleetRole creates the fleet's role through the root client vc.
func writeFleetRole(ctx context.Context, vc *api.Client) error {
	return writeFleetRoleTTL(ctx, vc, fleetTTL, fleetMaxTTL)
}

// writeFleetRoleTTL creates or changes the fleet's role through the root
// client vc: its tokens live ttl, at most maxTTL.
func writeFleetRoleTTL(ctx context.Context, vc *api.Client, ttl, maxTTL time.Duration) error {
	_, err := vc.Logical().WriteWithContext(ctx, "auth/"+stack.Mount+"/role/"+fleetRole, map[string]any{
		"auth_type": "iam", "policies": "admin",
		"bound_iam_principal_arn": "arn:aws:iam::222222222222:role/vault-secondary*",
		"token_ttl":               ttl.String(), "token_max_ttl": maxTTL.String(),
	})
	return err
}

// fleetAuth is the fleet's login: client1's role, the fleet's Vault role.
var fleetAuth = config.Auth{
	Method: "aws", Type: "iam", Role: fleetRole, Mount: stack.Mount, HeaderValue: stack.HeaderValue,
	STSRegion: "us-east-1", STSEndpoint: "https://sts.amazonaws.com",
}

// startFleet starts n lifecycles, as the daemon runs them, on client1's
// credentials and the fleet's role; agent i talks to Vault through
// client(i), and takes over the token resume(i) gives, if any (resume may
// be nil). stop ends them and waits for them.
func startFleet(ctx context.Context, e *env, n int, client func(i int) *api.Client, resume func(i int) *renew.Resume) (agents []*fleetAgent, stop func()) {
	in := e.st.Instances["client1"]
	creds := credentials.NewStaticCredentialsProvider(in.Creds.AccessKeyID, in.Creds.SecretAccessKey, in.Creds.SessionToken)
	auth := fleetAuth
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	agents = make([]*fleetAgent, n)
	for i := range agents {
		vc := client(i)
		a := &fleetAgent{sink: &memSink{state: token.NewLatest()}}
		a.loop = &renew.Loop{
			Auth:   login.New(vc, creds, auth, time.Now, zap.NewNop()),
			Tokens: renew.NewTokenAPI(vc),
			State:  a.sink.state,
		}
		if resume != nil {
			a.loop.Resume = resume(i)
		}
		agents[i] = a
		wg.Go(func() { _ = a.loop.Run(runCtx) })
		wg.Go(func() { a.sink.watch(runCtx) })
	}
	return agents, func() { cancel(); wg.Wait() }
}

// recover waits for every agent to hold a valid token after Vault's
// return at back and fills in the outcome's recovery figures: when, each
// agent's first new token, and the busiest second.
func (o *fleetOutcome) recover(ctx context.Context, agents []*fleetAgent, back time.Time) {
	var recovered bool
	o.allValid, recovered = waitAllValid(ctx, agents, back, fleetWatch)
	if !recovered {
		o.allValid = -1
	}
	perSecond := map[int]int{}
	for _, a := range agents {
		if t, ok := a.sink.firstAfter(back); ok {
			o.relogins = append(o.relogins, t.Sub(back))
		}
		for _, t := range a.sink.since(back) {
			perSecond[int(t.Sub(back)/time.Second)]++
		}
	}
	slices.Sort(o.relogins)
	for _, c := range perSecond {
		o.peakPerSecond = max(o.peakPerSecond, c)
	}
}

// fleetRows turns an outcome into the table's fleet rows. "Spread over
// ≥ 30 s" is judged by the busiest second: re-logins spread evenly over
// 30 s put N/30 in each, and twice that counts as a storm. (A percentile
// window would call a fleet that returns in two bursts half a minute
// apart "spread".)
func fleetRows(label string, o fleetOutcome) []row {
	all := "never (> " + secs(fleetWatch) + ")"
	if o.allValid >= 0 {
		all = secs(o.allValid)
	}
	stormCap := max(2*o.agents/int(spreadGoal/time.Second), 1)
	p := func(q float64) string { return fmt.Sprintf("%.1f", percentile(o.relogins, q).Seconds()) }
	return []row{
		{
			metric: label + ": Vault requests during the outage",
			agent:  fmt.Sprintf("%d (%.1f per agent)", o.outageRequests, float64(o.outageRequests)/float64(o.agents)),
			ref:    "n/a", goal: fmt.Sprintf("≤ %d per agent", outageBudget),
			met: verdictOf(o.outageRequests <= int64(outageBudget*o.agents)),
		},
		{
			metric: label + ": re-logins after the return, p10 / p50 / p90 / last",
			agent:  p(10) + " / " + p(50) + " / " + p(90) + " / " + p(100) + " s", ref: "n/a",
		},
		{
			metric: label + ": peak logins in one second after the return",
			agent:  fmt.Sprintf("%d/s", o.peakPerSecond), ref: "n/a",
			goal: fmt.Sprintf("spread ≥ %s: ≤ %d/s (2 × N/30)", secs(spreadGoal), stormCap), met: verdictOf(o.peakPerSecond <= stormCap),
		},
		{
			metric: label + ": all agents hold a valid token after the return",
			agent:  all, ref: "n/a",
			goal: "≤ " + secs(recoveryGoal), met: verdictOf(o.allValid >= 0 && o.allValid <= recoveryGoal),
		},
	}
}

// fleetVaultClient is the client vault.NewClient builds (no retries
// of its own, 30 s timeout, no token), with a connection pool big enough
// for n agents sharing it; count, when not nil, counts its requests.
func fleetVaultClient(addr string, n int, count *requestCounter) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, cfg.Error
	}
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.Timeout = 30 * time.Second
	if t, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		t.MaxIdleConns, t.MaxIdleConnsPerHost = n, n
	}
	if count != nil {
		cfg.HttpClient.Transport = count.wrap(cfg.HttpClient.Transport)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.ClearToken()
	return c, nil
}

// waitAllValid polls until every agent holds an unexpired token and
// returns how long after since that was, or false after within.
func waitAllValid(ctx context.Context, agents []*fleetAgent, since time.Time, within time.Duration) (time.Duration, bool) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		if countValid(agents, now) == len(agents) {
			return now.Sub(since), true
		}
		if now.Sub(since) > within {
			return 0, false
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-tick.C:
		}
	}
}

// countValid counts the agents whose current token (renewals included:
// they do not reach the sink, the token string stays the same) has not
// expired by its own ExpiresAt.
func countValid(agents []*fleetAgent, now time.Time) int {
	n := 0
	for _, a := range agents {
		if t, ok := a.loop.Current(); ok && t.ExpiresAt.After(now) {
			n++
		}
	}
	return n
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// worstVirtualFleet runs virtualRuns virtual fleets whose logins spread
// over ramp and keeps the worst figures of each kind (the re-login
// percentiles of the run with the highest peak).
func worstVirtualFleet(n int, ramp time.Duration) fleetOutcome {
	var worst fleetOutcome
	for s := range virtualRuns {
		v := simulateFleet(n, uint64(s+1), ramp)
		if s == 0 || v.peakPerSecond > worst.peakPerSecond {
			worst.relogins, worst.peakPerSecond = v.relogins, v.peakPerSecond
		}
		worst.allValid = max(worst.allValid, v.allValid)
		worst.outageRequests = max(worst.outageRequests, v.outageRequests)
		worst.agents = n
	}
	return worst
}

// restartFleet stops the outage's fleet, cold-starts a fleet as large on
// tokens of restartTTL, then restarts it at once, as n daemons restarted
// with their state: each agent's current token goes into a token record
// of its own on tmpfs (state.Store, as the daemon keeps it), the fleet is
// stopped, and a new one takes the tokens over (renew.Loop.Resume, after
// the fingerprint check the daemon makes). It counts the Vault requests
// until every agent holds a valid token and has renewed it: the goal is no
// login at all. (The outage fleet's 30 s tokens would not do: a token with
// less than its grace left, 3 to 6 s, is replaced by a login by design.)
func restartFleet(ctx context.Context, e *env, proxy *faultproxy.Proxy, vc *api.Client, n int, stopOutageFleet func()) (row, error) {
	stopOutageFleet()
	if err := writeFleetRoleTTL(ctx, e.st.Vault, restartTTL, 6*restartTTL); err != nil {
		return row{}, err
	}
	agents, stop := startFleet(ctx, e, n, func(int) *api.Client { return vc }, nil)
	defer stop()
	if _, ok := waitAllValid(ctx, agents, time.Now(), fleetRamp); !ok {
		return row{}, fmt.Errorf("restart: only %d of %d agents held a valid token after %v", countValid(agents, time.Now()), n, fleetRamp)
	}
	dir, err := os.MkdirTemp("/dev/shm", "xauth-bench-fleet-")
	if err != nil {
		return row{}, fmt.Errorf("restart: a tmpfs directory for the token records: %w", err)
	}
	defer os.RemoveAll(dir)
	fingerprint := state.Fingerprint(config.Vault{Addresses: []string{proxy.URL()}}, fleetAuth)
	stores := make([]*state.Store, n)
	for i, a := range agents {
		if stores[i], err = state.OpenStore(filepath.Join(dir, strconv.Itoa(i))); err != nil {
			return row{}, err
		}
		tok, _ := a.loop.Current()
		if err := stores[i].Save(state.Record{Token: tok.Token, Accessor: tok.Accessor, Fingerprint: fingerprint}); err != nil {
			return row{}, err
		}
	}
	stop()
	proxy.ResetCounts()
	started := time.Now()
	restarted, stopRestarted := startFleet(ctx, e, n, func(int) *api.Client { return vc }, func(i int) *renew.Resume {
		rec, ok, err := stores[i].Load()
		if err != nil || !ok || rec.Fingerprint != fingerprint {
			return nil
		}
		return &renew.Resume{Token: rec.Token, Accessor: rec.Accessor, LoginPath: "auth/" + stack.Mount + "/login"}
	})
	defer stopRestarted()
	took, ok := waitAllRenewed(ctx, restarted, started, fleetRamp)
	counts := proxy.RequestsByPath()
	e.note("fleet restart: %d agents on %v tokens restarted at once with their token records (tmpfs); until all held a valid token and had renewed it (%s): %d logins, %d lookup-self, %d renewals",
		n, restartTTL, secs(took), counts[loginPath], counts[lookupPath], counts[renewPath])
	if !ok {
		return row{}, fmt.Errorf("restart: not every agent held a renewed token after %v (proxy saw %v)", fleetRamp, counts)
	}
	return row{
		metric: fmt.Sprintf("%s agents restarted: logins", thousands(n)),
		agent:  fmt.Sprintf("%d (%d lookup-self, %d renewals; all renewed after %s)", counts[loginPath], counts[lookupPath], counts[renewPath], secs(took)),
		ref:    "n/a", goal: "0", met: verdictOf(counts[loginPath] == 0),
	}, nil
}

// waitAllRenewed polls until every agent holds an unexpired token it has
// renewed at least once, and returns how long after since that was, or
// false after within.
func waitAllRenewed(ctx context.Context, agents []*fleetAgent, since time.Time, within time.Duration) (time.Duration, bool) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		done := 0
		for _, a := range agents {
			if st, _ := a.sink.state.Load(); st.Renewals > 0 && st.Token.ExpiresAt.After(now) {
				done++
			}
		}
		if done == len(agents) {
			return now.Sub(since), true
		}
		if now.Sub(since) > within {
			return now.Sub(since), false
		}
		select {
		case <-ctx.Done():
			return now.Sub(since), false
		case <-tick.C:
		}
	}
}

// thousands writes n with commas: 1,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
