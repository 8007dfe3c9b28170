package localapi

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// Peer is the caller at the other end of a connection, as the kernel saw
// it when the caller connected.
type Peer struct {
	PID    int32
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups; nil where SO_PEERGROUPS is unavailable
}

type peerKey struct{}

// peerResult is what ConnContext found: the peer, or why it is unknown.
type peerResult struct {
	peer Peer
	err  error
}

// withConnPeer is the http.Server's ConnContext: it reads the peer's
// credentials once per connection, at accept.
func withConnPeer(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return context.WithValue(ctx, peerKey{}, peerResult{err: fmt.Errorf("not a unix connection: %T", c)})
	}
	p, err := peerOf(uc)
	return context.WithValue(ctx, peerKey{}, peerResult{peer: p, err: err})
}

// withPeer attaches a known peer to ctx (tests, fuzzing).
func withPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, peerResult{peer: p})
}

// peerFrom returns the connection's peer; false when it is unknown.
func peerFrom(ctx context.Context) (Peer, error) {
	r, ok := ctx.Value(peerKey{}).(peerResult)
	if !ok {
		return Peer{}, fmt.Errorf("no peer credentials")
	}
	return r.peer, r.err
}

// access is the allow-list policy; see "Who may call" in the package
// comment.
type access struct {
	self uint32
	uids map[uint32]bool
	gids map[uint32]bool
}

func newAccess(self uint32, uids, gids []int) *access {
	a := &access{self: self, uids: map[uint32]bool{}, gids: map[uint32]bool{}}
	for _, u := range uids {
		a.uids[uint32(u)] = true
	}
	for _, g := range gids {
		a.gids[uint32(g)] = true
	}
	return a
}

func (a access) allows(p Peer) bool {
	if p.UID == a.self || a.uids[p.UID] || a.gids[p.GID] {
		return true
	}
	for _, g := range p.Groups {
		if a.gids[g] {
			return true
		}
	}
	return false
}

// DenyLogInterval is the least time between two log lines about refused
// callers with the same uid.
const DenyLogInterval = time.Minute

// maxDenyUIDs bounds the uids denyLog remembers.
const maxDenyUIDs = 1024

// denyLog rate-limits the log lines about refused callers, per uid.
type denyLog struct {
	every time.Duration
	mu    sync.Mutex
	seen  map[uint32]*denyEntry
}

type denyEntry struct {
	last       time.Time
	suppressed int
}

// allow reports whether to log a refusal of uid at now, and how many
// refusals of that uid went unlogged since the last line.
func (d *denyLog) allow(uid uint32, now time.Time) (bool, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil || len(d.seen) >= maxDenyUIDs {
		d.seen = map[uint32]*denyEntry{}
	}
	e, ok := d.seen[uid]
	if !ok {
		d.seen[uid] = &denyEntry{last: now}
		return true, 0
	}
	if now.Sub(e.last) < d.every {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}
