package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

const haFleetNodes = 3

// measureHAFleet runs the fleet against a three-node Vault HA cluster
// (started next to the stack's single Vault, on the same AWS fake) and
// stops the active node for fleetOutage; the cluster keeps its storage and
// the node comes back as a standby. Each agent takes one Vault address, so
// agent i talks to node i mod 3, as a name resolving to every node would
// spread them: the stopped node's agents lose Vault for the whole outage,
// the others ride through the standby's takeover.
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
	clients := make([]*api.Client, len(addrs))
	for i, a := range addrs {
		if clients[i], err = fleetVaultClient(a, n, count); err != nil {
			return nil, err
		}
	}
	nodeOf := func(agent int) int { return agent % len(addrs) }
	started := time.Now()
	agents, stop := startFleet(ctx, e, n, func(i int) *api.Client { return clients[nodeOf(i)] }, nil)
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
	var onDown, elsewhere []*fleetAgent
	for i, a := range agents {
		if nodeOf(i) == down {
			onDown = append(onDown, a)
		} else {
			elsewhere = append(elsewhere, a)
		}
	}
	count.take()
	if err := cl.Stop(ctx, down); err != nil {
		return nil, err
	}
	stopped := time.Now()
	minElsewhere := len(elsewhere) // the fewest other agents holding a valid token at one time
	for time.Since(stopped) < fleetOutage {
		minElsewhere = min(minElsewhere, countValid(elsewhere, time.Now()))
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
	}
	back := time.Now()
	during := count.take()
	stillValid := countValid(onDown, back)
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
	e.note("ha fleet: %d lifecycles against a %d-node Vault cluster (shared in-memory HA storage, standbys forward), agent i on node i mod %d; cold start in %s",
		n, haFleetNodes, haFleetNodes, secs(cold))
	e.note("ha fleet outage: active node %d stopped (connections refused) for %v, a standby took over; requests during it: %d to the stopped node (%.1f per agent there), %d to the others (%.1f per agent); %d of %d agents elsewhere held a valid token at the worst moment, %d of %d on the stopped node at its return",
		down, fleetOutage, during[downHost], float64(during[downHost])/float64(len(onDown)),
		out.outageRequests-during[downHost], float64(out.outageRequests-during[downHost])/float64(len(elsewhere)),
		minElsewhere, len(elsewhere), stillValid, len(onDown))
	e.note("ha fleet recovery: %d requests until all were valid (%d to the restarted node); %d/%d sampled tokens valid by lookup-self",
		sum(after), after[downHost], checked-bad, checked)
	if bad > 0 {
		return nil, fmt.Errorf("%d of %d sampled fleet tokens failed lookup-self", bad, checked)
	}
	return fleetRows(fmt.Sprintf("fleet %d, %d-node HA cluster, active node stopped %.0f s (agents spread over the nodes, one address each)",
		n, haFleetNodes, fleetOutage.Seconds()), out), nil
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
