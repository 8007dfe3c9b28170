// Package sink delivers the agent's Vault token to the places applications
// read it from.
//
// A Sink is one destination. The agent calls Check once at start-up, before
// any login, so a sink that cannot be written fails the start rather than the
// first token. After each login or renewal the agent calls Write; a sink
// writes only when the token string changes (renewing a Vault token keeps the
// same string), so readers watching the file see one change per new token.
//
// File is the file sink. It replaces its target atomically and durably
// (atomicfile.Write). It never writes through a symlink at the target, nor
// through a symlink above it that others could have made
// (atomicfile.CheckParents), and a failed write leaves the previous file
// untouched. Encode renders the formats a file can hold ("token", "json",
// "env"). With wrap_ttl a file holds a wrapping token of each new token
// instead (EncodeWrapped), and OnChange tells the on_change runner (hook)
// that the file got a new token. Sinks take the configuration's values as
// checked (config).
//
// Sinks log the token's accessor, never the token.
package sink

import (
	"context"

	"github.com/xauth-agent/xauth-agent/internal/token"
)

// Sink is one destination for the token.
type Sink interface {
	// Name identifies the sink in logs and errors, e.g. "file:/run/xauth-agent/token".
	Name() string
	// Check proves at start-up, before any login, that the sink can write.
	Check() error
	// Write delivers t. It does nothing when t.Token equals the last token
	// this sink wrote successfully.
	Write(ctx context.Context, t token.Token) error
}

// Field names shared by the sinks' log lines.
const (
	fieldPath     = "path"
	fieldAccessor = "accessor"
	fieldBytes    = "bytes"
	fieldWrapped  = "wrapped"
)
