package localapi

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxPeerGroups bounds the supplementary groups read (NGROUPS_MAX is 65536).
const maxPeerGroups = 65536

// peerOf reads the credentials the caller had when it connected:
// SO_PEERCRED for pid, uid and gid, SO_PEERGROUPS (Linux ≥ 4.13) for the
// supplementary groups. A kernel without SO_PEERGROUPS leaves Groups nil,
// so only the primary gid counts against AllowGIDs.
func peerOf(c *net.UnixConn) (Peer, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var (
		p    Peer
		oerr error
	)
	err = rc.Control(func(fd uintptr) {
		cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			oerr = fmt.Errorf("SO_PEERCRED: %w", err)
			return
		}
		p = Peer{PID: cred.Pid, UID: cred.Uid, GID: cred.Gid}
		groups, err := peerGroups(int(fd))
		if err != nil && !errors.Is(err, unix.ENOPROTOOPT) {
			oerr = fmt.Errorf("SO_PEERGROUPS: %w", err)
			return
		}
		p.Groups = groups
	})
	if err == nil {
		err = oerr
	}
	return p, err
}

// peerGroups reads SO_PEERGROUPS, growing the buffer while the kernel
// answers ERANGE (it then reports the size it needs).
func peerGroups(fd int) ([]uint32, error) {
	n := 32
	for {
		buf := make([]uint32, n)
		size := uint32(n * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		runtime.KeepAlive(buf)
		runtime.KeepAlive(&size)
		switch {
		case errno == 0:
			return buf[:size/4], nil
		case errno == unix.ERANGE && n < maxPeerGroups:
			n = max(int(size/4), 2*n)
			n = min(n, maxPeerGroups)
		default:
			return nil, errno
		}
	}
}
