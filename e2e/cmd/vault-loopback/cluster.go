package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	awsauth "github.com/hashicorp/vault/builtin/credential/aws"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/internalshared/configutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/physical"
	"github.com/hashicorp/vault/sdk/physical/inmem"
	"github.com/hashicorp/vault/vault"
)

// A cluster is one or more Vault servers (cores) in this process sharing
// one in-memory storage. With more than one node the storage is HA-capable
// (inmem.NewInmemHA: the HA lock lives in this process), every node has a
// cluster listener of its own, and a standby forwards the requests it gets
// to the active node over it, as Vault servers on shared storage do.
//
// A stopped node's API address refuses connections and its core is shut
// down (an active core lets go of the HA lock, so a standby takes over).
// Starting it again builds a new core on the same storage and listens on
// the same API and cluster addresses; whatever the storage holds (mounts,
// roles, tokens) survives any number of stops, even of every node.
type cluster struct {
	logger    hclog.Logger
	phys      physical.Backend
	ha        physical.HABackend // nil for a single node: no HA, no cluster listener
	unsealKey []byte
	rootToken string

	mu    sync.Mutex // serialises starts and stops
	nodes []*node
}

// node is one Vault server of the cluster.
type node struct {
	name        string
	apiAddr     string      // 127.0.0.1:port, the port chosen at the first start
	clusterAddr string      // 127.0.0.1:port of the cluster listener (HA only), likewise
	core        *vault.Core // nil while stopped
	srv         *http.Server

	requests  atomic.Int64 // HTTP requests served, over every start
	redirects atomic.Int64 // of those, answered 307 (a standby that could not forward)
}

// newCluster starts n nodes on 127.0.0.1 (ports from basePort, or free
// ones when it is 0), initialises Vault with one key share through the
// first, unseals every node and waits for the first to be active.
func newCluster(ctx context.Context, n, basePort int, logger hclog.Logger) (*cluster, error) {
	c := &cluster{logger: logger}
	if n == 1 {
		phys, err := inmem.NewInmem(nil, logger)
		if err != nil {
			return nil, fmt.Errorf("in-memory storage: %w", err)
		}
		c.phys = phys
	} else {
		phys, err := inmem.NewInmemHA(nil, logger)
		if err != nil {
			return nil, fmt.Errorf("in-memory HA storage: %w", err)
		}
		c.phys, c.ha = phys, phys.(physical.HABackend)
	}
	for i := range n {
		port := 0
		if basePort != 0 {
			port = basePort + i
		}
		c.nodes = append(c.nodes, &node{
			name:        fmt.Sprintf("node%d", i),
			apiAddr:     fmt.Sprintf("127.0.0.1:%d", port),
			clusterAddr: "127.0.0.1:0",
		})
	}

	first := c.nodes[0]
	if err := c.startNode(first, false); err != nil {
		return nil, err
	}
	init, err := first.core.Initialize(ctx, &vault.InitParams{
		BarrierConfig:  &vault.SealConfig{SecretShares: 1, SecretThreshold: 1},
		RecoveryConfig: &vault.SealConfig{SecretShares: 1, SecretThreshold: 1},
	})
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	c.unsealKey, c.rootToken = init.SecretShares[0], init.RootToken
	if err := c.unseal(first); err != nil {
		return nil, err
	}
	if err := waitActive(ctx, first.core); err != nil {
		return nil, err
	}
	for _, nd := range c.nodes[1:] {
		if err := c.startNode(nd, true); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// start starts the stopped nodes among idx; unsealed unless sealed is set
// (a restarted Vault server comes up sealed until someone unseals it).
func (c *cluster) start(idx []int, sealed bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, i := range idx {
		if err := c.startNode(c.nodes[i], !sealed); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) startNode(n *node, unseal bool) error {
	if n.core != nil {
		return nil
	}
	ln, err := listenAgain(n.apiAddr)
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	n.apiAddr = ln.Addr().String()
	cfg := &vault.CoreConfig{
		Physical:           c.phys,
		HAPhysical:         c.ha,
		RedirectAddr:       "http://" + n.apiAddr,
		Logger:             c.logger.Named(n.name),
		DisableMlock:       true,
		BuiltinRegistry:    awsOnlyRegistry{},
		CredentialBackends: map[string]logical.Factory{"aws": awsauth.Factory},
		LogicalBackends:    map[string]logical.Factory{"kv": kv.Factory},
	}
	if c.ha != nil {
		cfg.ClusterAddr = "https://" + n.clusterAddr
	}
	core, err := vault.NewCore(cfg)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("%s: new core: %w", n.name, err)
	}
	if c.ha != nil {
		// What `vault server` does before the first unseal: where the
		// cluster listener binds, and the handler that serves the requests
		// standbys forward when this core is active.
		clusterTCP, err := net.ResolveTCPAddr("tcp", n.clusterAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("%s: cluster address: %w", n.name, err)
		}
		core.SetClusterListenerAddrs([]*net.TCPAddr{clusterTCP})
		core.SetClusterHandler(vaulthttp.Handler.Handler(&vault.HandlerProperties{
			Core:           core,
			ListenerConfig: &configutil.Listener{DisableJSONLimitParsing: true},
		}))
	}
	handler := vaulthttp.Handler.Handler(&vault.HandlerProperties{
		Core:           core,
		ListenerConfig: &configutil.Listener{Type: "tcp", Address: n.apiAddr},
	})
	n.core, n.srv = core, &http.Server{Handler: n.count(handler)}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(n.srv)
	if unseal && c.unsealKey != nil {
		return c.unseal(n)
	}
	return nil
}

// unseal unseals n's core with the key share and, the first time, notes
// the cluster port the operating system gave its cluster listener.
func (c *cluster) unseal(n *node) error {
	if _, err := n.core.Unseal(bytes.Clone(c.unsealKey)); err != nil {
		return fmt.Errorf("%s: unseal: %w", n.name, err)
	}
	if c.ha != nil {
		n.clusterAddr = strings.TrimPrefix(n.core.ClusterAddr(), "https://")
	}
	return nil
}

// stop stops the running nodes among idx. Every API listener closes first,
// so all of them refuse connections from the same moment; then the cores
// shut down, standbys before the active one, so that stopping several
// nodes does not hand the HA lock from one stopping node to the next.
func (c *cluster) stop(idx []int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var standbys, active []*node
	for _, i := range idx {
		n := c.nodes[i]
		if n.core == nil {
			continue
		}
		_ = n.srv.Close()
		if standby, _ := n.core.Standby(); standby {
			standbys = append(standbys, n) // sealed cores count as standbys
		} else {
			active = append(active, n)
		}
	}
	var errs []error
	for _, n := range append(standbys, active...) {
		if err := n.core.Shutdown(); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("%s: shutdown: %w", n.name, err))
		}
		n.core, n.srv = nil, nil
	}
	return errors.Join(errs...)
}

// stopAll stops every node, for the process's exit.
func (c *cluster) stopAll() error {
	idx := make([]int, len(c.nodes))
	for i := range idx {
		idx[i] = i
	}
	return c.stop(idx)
}

// nodeState is a node as the control API shows it.
type nodeState struct {
	Addr      string `json:"addr"`
	Running   bool   `json:"running"`
	Requests  int64  `json:"requests"`
	Redirects int64  `json:"redirects"`
}

func (c *cluster) states() []nodeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]nodeState, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = nodeState{Addr: "http://" + n.apiAddr, Running: n.core != nil,
			Requests: n.requests.Load(), Redirects: n.redirects.Load()}
	}
	return out
}

// count wraps a node's handler with its request and redirect counters.
func (n *node) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.requests.Add(1)
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusTemporaryRedirect {
			n.redirects.Add(1)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// listenAgain listens on addr, retrying for a few seconds: a port just
// closed by a stopped node may take a moment to be free again.
func listenAgain(addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitActive waits until core holds the HA lock and has finished becoming
// the active node (at once without HA).
func waitActive(ctx context.Context, core *vault.Core) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		if standby, err := core.Standby(); err == nil && !standby && !core.Sealed() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the first node did not become active: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
