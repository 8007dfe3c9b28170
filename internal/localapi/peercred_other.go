//go:build !linux

package localapi

import (
	"errors"
	"net"
)

// peerOf is Linux-only: elsewhere every caller is unknown and refused.
func peerOf(*net.UnixConn) (Peer, error) {
	return Peer{}, errors.New("peer credentials are only read on Linux")
}
