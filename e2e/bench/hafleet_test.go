package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/internal/backoff"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

const haFleetNodes = 3

// measureHAFleet runs the fleet against a three-node Vault HA cluster
// (started next to the stack's single Vault, on the same AWS fake) and
// stops the active node for fleetOutage; the cluster keeps its storage and
// the node comes back as a standby. Each agent is given all three
// addresses, as the daemon takes vault { address = [...] }, in an order
// rotated by agent (agent i starts on node i mod 3) so the fleet spreads
// over the nodes: the agents on the stopped node move to their next
// address at their first retry, and come back to it after their cool-down.
func measureHAFleet(ctx context.Context, e *env, n int) ([]row, error) {
	cl, err := e.st.StartCluster(ctx, haFleetNodes)
	if err != nil {
		return nil, err
	}
	vc, err := cl.ActiveClient(ctx)
	if err != nil {
		return nil, err
	}
	if err := writeFleetRole(ctx, vc); err != nil {
		return nil, err
	}
	count := &requestCounter{}
	addrs := cl.Addrs()
	shared, err := fleetVaultClient(addrs[0], n, count) // one connection pool for the fleet, as many hosts have one each
	if err != nil {
		return nil, err
	}
	transport := shared.CloneConfig().HttpClient.Transport
	clients := make([]*api.Client, n)
	for i := range clients {
		rotated := append(append([]string(nil), addrs[i%len(addrs):]...), addrs[:i%len(addrs)]...)
		if clients[i], err = failoverClient(rotated, transport); err != nil {
			return nil, err
		}
	}
	started := time.Now()
	agents, stop := startFleet(ctx, e, n, func(i int) *api.Client { return clients[i] }, nil)
	defer stop()
	cold, ok := waitAllValid(ctx, agents, started, fleetRamp)
	if !ok {
		return nil, fmt.Errorf("cold start: only %d of %d agents held a valid token after %v", countValid(agents, time.Now()), n, fleetRamp)
	}
	if err := sleep(ctx, fleetSettle); err != nil {
		return nil, err
	}

	down, err := cl.Active(ctx)
	if err != nil {
		return nil, err
	}
	var startedOnDown []*fleetAgent
	for i, a := range agents {
		if i%len(addrs) == down {
			startedOnDown = append(startedOnDown, a)
		}
	}
	count.take()
	if err := cl.Stop(ctx, down); err != nil {
		return nil, err
	}
	stopped := time.Now()
	fewest, lastShort := n, time.Duration(-1) // the fewest agents holding a valid token at one time; when last not all did
	for time.Since(stopped) < fleetOutage {
		now := time.Now()
		if v := countValid(agents, now); v < n {
			fewest, lastShort = min(fewest, v), now.Sub(stopped)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
	}
	back := time.Now()
	during := count.take()
	if err := cl.Start(ctx, down); err != nil {
		return nil, err
	}
	out := fleetOutcome{agents: n, outageRequests: sum(during)}
	out.recover(ctx, agents, back)
	after := count.take()

	checked, bad := sampleTokens(agents, func(tok string) error {
		valid, err := cl.TokenValid(ctx, tok)
		if err == nil && !valid {
			err = fmt.Errorf("the cluster refuses the token")
		}
		return err
	})
	downHost := strings.TrimPrefix(addrs[down], "http://")
	allValid := "every agent held a valid token throughout"
	if lastShort >= 0 {
		allValid = fmt.Sprintf("all held a valid token again %s after the stop (%d of %d at the worst moment)", secs(lastShort), fewest, n)
	}
	e.note("ha fleet: %d lifecycles against a %d-node Vault cluster (shared in-memory HA storage, standbys forward), each given the %d addresses rotated (agent i starts on node i mod %d); cold start in %s",
		n, haFleetNodes, haFleetNodes, haFleetNodes, secs(cold))
	e.note("ha fleet outage: active node %d stopped (connections refused) for %v, a standby took over; %d requests during it (%.1f per agent), %d of them to the stopped node (%d agents started there); %s",
		down, fleetOutage, out.outageRequests, float64(out.outageRequests)/float64(n), during[downHost], len(startedOnDown), allValid)
	e.note("ha fleet recovery: %d requests until all were valid after the node's return (%d to the restarted node); %d/%d sampled tokens valid by lookup-self",
		sum(after), after[downHost], checked-bad, checked)
	if bad > 0 {
		return nil, fmt.Errorf("%d of %d sampled fleet tokens failed lookup-self", bad, checked)
	}
	label := fmt.Sprintf("fleet %d, %d-node HA cluster, active node stopped %.0f s (each agent given every address, rotated)",
		n, haFleetNodes, fleetOutage.Seconds())
	all := fleetRows(label, out)
	until := "0 s (never short of one)"
	if lastShort >= 0 {
		until = secs(lastShort)
	}
	rows := []row{
		all[0], // requests during the outage
		{
			metric: label + ": requests to the stopped node, per agent that started on it",
			agent:  fmt.Sprintf("%.1f", float64(during[downHost])/float64(len(startedOnDown))), ref: "n/a",
		},
		{metric: label + ": seconds after the stop until all hold a valid token", agent: until, ref: "n/a"},
		all[len(all)-1], // all valid after the node's return
	}
	return rows, nil
}

// failoverClient is a client of addrs in that order through the agent's
// address selector (vault.NewSelector, with the lifecycle's default
// backoff bounds as its cool-down), sending through transport.
func failoverClient(addrs []string, transport http.RoundTripper) (*api.Client, error) {
	sel, err := vault.NewSelector(addrs, backoff.DefaultMin, backoff.DefaultMax, transport, nil)
	if err != nil {
		return nil, err
	}
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, cfg.Error
	}
	cfg.Address, cfg.MaxRetries, cfg.Timeout = addrs[0], 0, 30*time.Second
	cfg.HttpClient.Transport = sel
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.ClearToken()
	return c, nil
}

// requestCounter counts the requests Vault clients send, by host:port,
// whether or not they connect: a stopped node refuses them, so only the
// client side sees them.
type requestCounter struct {
	mu     sync.Mutex
	byHost map[string]int64
}

func (c *requestCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		c.mu.Lock()
		if c.byHost == nil {
			c.byHost = map[string]int64{}
		}
		c.byHost[r.URL.Host]++
		c.mu.Unlock()
		return next.RoundTrip(r)
	})
}

// take returns the counts so far and starts again from zero.
func (c *requestCounter) take() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.byHost
	c.byHost = nil
	if out == nil {
		out = map[string]int64{}
	}
	return out
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
