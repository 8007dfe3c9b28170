package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/vault/api"
)

// Cluster is an HA cluster of real Vault servers on loopback (one
// vault-loopback -nodes N process: N cores on shared in-memory HA storage,
// each with its own API address and cluster listener; standbys forward
// requests to the active node). It is set up with the seed scenario like
// the stack's single server and shares the stack's AWS fake and IMDS
// emulators, so an agent on any of the stack's instances logs in through
// any node. The stack's Close stops it.
//
// Step-down, seal and unseal go through Vault's own API; stopping and
// starting a node (what systemctl would do) through the process's control
// API. A stopped node's address refuses connections; the storage outlives
// every stop, so tokens issued before a node, or the whole cluster, went
// down are still valid when it is back.
type Cluster struct {
	RootToken string
	addrs     []string
	unsealKey string
	control   string
}

// NodeState is what a node answers on sys/health, or that it answers
// nothing.
type NodeState int

const (
	// Down: the node refuses connections (stopped) or does not answer.
	Down NodeState = iota
	// Sealed: the node answers, sealed.
	Sealed
	// Standby: unsealed, forwarding requests to the active node.
	Standby
	// Active: unsealed and holding the HA lock.
	Active
)

func (s NodeState) String() string {
	switch s {
	case Down:
		return "down"
	case Sealed:
		return "sealed"
	case Standby:
		return "standby"
	case Active:
		return "active"
	}
	return fmt.Sprintf("NodeState(%d)", int(s))
}

// Node is a node as the cluster process counts it.
type Node struct {
	Addr      string `json:"addr"`
	Running   bool   `json:"running"`   // started (it may still be sealed)
	Requests  int64  `json:"requests"`  // HTTP requests it served, over every start
	Redirects int64  `json:"redirects"` // of those, answered 307: a standby that did not forward
}

// StartCluster starts an HA cluster of nodes Vault servers, configures it
// with the seed scenario against the stack's AWS fake and waits until
// every standby forwards requests.
func (s *Stack) StartCluster(ctx context.Context, nodes int) (*Cluster, error) {
	if nodes < 2 {
		return nil, fmt.Errorf("a cluster of %d nodes: want at least 2", nodes)
	}
	hello, err := s.launchVault(ctx, "-nodes", strconv.Itoa(nodes))
	if err != nil {
		return nil, err
	}
	c := &Cluster{RootToken: hello.RootToken, addrs: hello.Addrs, unsealKey: hello.UnsealKey, control: hello.Control}
	s.mu.Lock()
	s.clusters = append(s.clusters, c)
	s.mu.Unlock()
	if len(c.addrs) != nodes || c.control == "" {
		return nil, fmt.Errorf("vault-loopback -nodes %d announced %d addresses and control %q", nodes, len(c.addrs), c.control)
	}
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	vc, err := c.ActiveClient(ctx)
	if err != nil {
		return nil, err
	}
	if err := configureScenario(ctx, vc, s.AWS.URL()); err != nil {
		return nil, fmt.Errorf("configure the cluster: %w", err)
	}
	return c, nil
}

// Addrs are the nodes' API addresses (http://127.0.0.1:port), node i at
// index i. They stay the same across stops and starts.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Client is a Vault client for node i with the root token and without
// vault/api's own retries. Like any client it follows a standby's
// redirect; Nodes counts the redirects.
func (c *Cluster) Client(i int) (*api.Client, error) {
	return rootClient(c.addrs[i], c.RootToken)
}

// States asks every node's sys/health (answered by the node itself, never
// forwarded).
func (c *Cluster) States(ctx context.Context) []NodeState {
	out := make([]NodeState, len(c.addrs))
	for i := range c.addrs {
		out[i] = c.state(ctx, i)
	}
	return out
}

func (c *Cluster) state(ctx context.Context, i int) NodeState {
	vc, err := c.Client(i)
	if err != nil {
		return Down
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	h, err := vc.Sys().HealthWithContext(ctx)
	switch {
	case err != nil:
		return Down
	case h.Sealed || !h.Initialized:
		return Sealed
	case h.Standby:
		return Standby
	}
	return Active
}

// Active waits for a node to be active and returns it.
func (c *Cluster) Active(ctx context.Context) (int, error) {
	active := -1
	err := poll(ctx, "an active node", func() bool {
		active = slices.Index(c.States(ctx), Active)
		return active >= 0
	})
	return active, err
}

// ActiveClient waits for a node to be active and returns a root client on
// it.
func (c *Cluster) ActiveClient(ctx context.Context) (*api.Client, error) {
	active, err := c.Active(ctx)
	if err != nil {
		return nil, err
	}
	return c.Client(active)
}

// Standbys are the nodes that answer as standbys now.
func (c *Cluster) Standbys(ctx context.Context) []int {
	var out []int
	for i, s := range c.States(ctx) {
		if s == Standby {
			out = append(out, i)
		}
	}
	return out
}

// WaitReady waits until one node is active and every standby forwards a
// request to it (a root lookup-self through the standby is answered 200,
// not redirected). Down and sealed nodes are left as they are.
func (c *Cluster) WaitReady(ctx context.Context) error {
	return poll(ctx, "one active node and every standby forwarding", func() bool {
		active := 0
		for i, s := range c.States(ctx) {
			switch {
			case s == Active:
				active++
			case s == Standby && !c.forwards(ctx, i):
				return false
			}
		}
		return active == 1
	})
}

// forwards reports whether node i answers a root lookup-self itself (a
// standby: by forwarding it) rather than redirecting it.
func (c *Cluster) forwards(ctx context.Context, i int) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.addrs[i]+"/v1/auth/token/lookup-self", nil)
	if err != nil {
		return false
	}
	req.Header.Set("X-Vault-Token", c.RootToken)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// StepDown asks the active node to step down (sys/step-down), waits for
// another node to take over and for the cluster to be ready, and returns
// the new active node. The old one stays a standby.
func (c *Cluster) StepDown(ctx context.Context) (int, error) {
	old, err := c.Active(ctx)
	if err != nil {
		return -1, err
	}
	vc, err := c.Client(old)
	if err != nil {
		return -1, err
	}
	if err := vc.Sys().StepDownWithContext(ctx); err != nil {
		return -1, fmt.Errorf("step down node %d: %w", old, err)
	}
	active := -1
	err = poll(ctx, "another node to take over", func() bool {
		for i, s := range c.States(ctx) {
			if s == Active && i != old {
				active = i
				return true
			}
		}
		return false
	})
	if err != nil {
		return -1, err
	}
	return active, c.WaitReady(ctx)
}

// Seal seals node i. The active node seals through sys/seal (a standby
// then takes over). Vault refuses to seal a standby ("vault cannot seal
// when in standby mode; please restart instead"), so a standby is
// restarted and left sealed, as an operator would.
func (c *Cluster) Seal(ctx context.Context, i int) error {
	switch c.state(ctx, i) {
	case Sealed:
		return nil
	case Down:
		return fmt.Errorf("seal node %d: it is down", i)
	case Active:
		vc, err := c.Client(i)
		if err != nil {
			return err
		}
		if err := vc.Sys().SealWithContext(ctx); err != nil {
			return fmt.Errorf("seal node %d: %w", i, err)
		}
	case Standby:
		if _, err := c.controlCall(ctx, "stop", i, false); err != nil {
			return err
		}
		if _, err := c.controlCall(ctx, "start", i, true); err != nil {
			return err
		}
	}
	return poll(ctx, fmt.Sprintf("node %d to be sealed", i), func() bool { return c.state(ctx, i) == Sealed })
}

// Unseal unseals node i with the key share (sys/unseal) and waits for the
// cluster to be ready.
func (c *Cluster) Unseal(ctx context.Context, i int) error {
	if err := c.unseal(ctx, i); err != nil {
		return err
	}
	return c.WaitReady(ctx)
}

func (c *Cluster) unseal(ctx context.Context, i int) error {
	vc, err := c.Client(i)
	if err != nil {
		return err
	}
	if _, err := vc.Sys().UnsealWithContext(ctx, c.unsealKey); err != nil {
		return fmt.Errorf("unseal node %d: %w", i, err)
	}
	return nil
}

// Stop stops node i: its address refuses connections from the moment Stop
// returns; an active node hands over to a standby. A node that stepped
// down less than 10 s ago takes the rest of those 10 s to shut down (Vault
// pauses a stepped-down node before it competes for the lock again).
func (c *Cluster) Stop(ctx context.Context, i int) error {
	_, err := c.controlCall(ctx, "stop", i, false)
	return err
}

// Start starts node i again on its addresses, unsealed, and waits for the
// cluster to be ready.
func (c *Cluster) Start(ctx context.Context, i int) error {
	if _, err := c.controlCall(ctx, "start", i, false); err != nil {
		return err
	}
	return c.WaitReady(ctx)
}

// StartSealed starts node i again and leaves it sealed, as a restarted
// Vault server is until someone unseals it.
func (c *Cluster) StartSealed(ctx context.Context, i int) error {
	_, err := c.controlCall(ctx, "start", i, true)
	return err
}

// StopAll stops every node at once: all addresses refuse connections from
// the moment it returns.
func (c *Cluster) StopAll(ctx context.Context) error {
	_, err := c.controlCall(ctx, "stop", -1, false)
	return err
}

// StartAll starts every stopped node, unsealed, and waits for the cluster
// to be ready.
func (c *Cluster) StartAll(ctx context.Context) error {
	if _, err := c.controlCall(ctx, "start", -1, false); err != nil {
		return err
	}
	return c.WaitReady(ctx)
}

// Heal brings the cluster back to every node running, unsealed and ready,
// whatever a test did to it.
func (c *Cluster) Heal(ctx context.Context) error {
	if _, err := c.controlCall(ctx, "start", -1, false); err != nil {
		return err
	}
	for i, s := range c.States(ctx) {
		if s == Sealed {
			if err := c.unseal(ctx, i); err != nil {
				return err
			}
		}
	}
	return c.WaitReady(ctx)
}

// Nodes are the cluster process's view of its nodes: running or not, and
// how many requests each served and redirected.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	return c.controlCall(ctx, "nodes", -1, false)
}

// TokenValid asks the cluster whether token is valid (lookup-self through
// any node that answers). It retries while no node gives an answer (down,
// sealed, electing) and returns false only when Vault refuses the token.
func (c *Cluster) TokenValid(ctx context.Context, token string) (bool, error) {
	var valid, known bool
	err := poll(ctx, "an answer about the token", func() bool {
		for i := range c.addrs {
			vc, err := c.Client(i)
			if err != nil {
				continue
			}
			vc.SetToken(token)
			_, err = vc.Auth().Token().LookupSelfWithContext(ctx)
			var re *api.ResponseError
			switch {
			case err == nil:
				valid, known = true, true
			case errors.As(err, &re) && re.StatusCode == http.StatusForbidden:
				valid, known = false, true
			default:
				continue
			}
			return true
		}
		return false
	})
	if !known {
		return false, err
	}
	return valid, nil
}

// controlCall calls the cluster process's control API: op "nodes", "stop"
// or "start" for node i (every node when i < 0); sealed starts nodes
// sealed.
func (c *Cluster) controlCall(ctx context.Context, op string, i int, sealed bool) ([]Node, error) {
	q := url.Values{}
	if i >= 0 {
		q.Set("nodes", strconv.Itoa(i))
	}
	if sealed {
		q.Set("sealed", "true")
	}
	method := http.MethodPost
	if op == "nodes" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, c.control+"/"+op+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cluster control %s: %w", op, err)
	}
	defer resp.Body.Close()
	var body struct {
		Nodes  []Node   `json:"nodes"`
		Errors []string `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("cluster control %s: %s: %w", op, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cluster control %s node %d: %s: %v", op, i, resp.Status, body.Errors)
	}
	return body.Nodes, nil
}

// poll checks cond every 50 ms until it holds or ctx ends.
func poll(ctx context.Context, what string, cond func() bool) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}
