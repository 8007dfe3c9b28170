// Package ids turns the owner and group settings of sinks (a user or group name, or a number)
// into the uids and gids chown takes, with the host's user and group database. internal/config
// resolves every owner and group with it once, at load, so validate refuses what startup would.
package ids

import (
	"errors"
	"fmt"
	"math"
	"os/user"
	"strconv"
	"strings"
)

// Max is the largest uid or gid: 2^32-1 is chown's "unchanged".
const Max = math.MaxUint32 - 1

// UID returns the uid of a user name or numeric uid; "" gives -1 (leave unchanged).
func UID(s string) (int, error) {
	return resolve(s, func(name string) (string, error) {
		u, err := user.Lookup(name)
		if errors.As(err, new(user.UnknownUserError)) {
			return "", errors.New("no such user on this host")
		}
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
}

// GID returns the gid of a group name or numeric gid; "" gives -1 (leave unchanged).
func GID(s string) (int, error) {
	return resolve(s, func(name string) (string, error) {
		g, err := user.LookupGroup(name)
		if errors.As(err, new(user.UnknownGroupError)) {
			return "", errors.New("no such group on this host")
		}
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
}

// resolve turns a name, looked up by byName, or a numeric id into the id.
func resolve(s string, byName func(string) (string, error)) (int, error) {
	if s == "" {
		return -1, nil
	}
	if strings.Trim(s, "0123456789") != "" {
		var err error
		if s, err = byName(s); err != nil {
			return 0, err
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("id %s is out of range: ids run from 0 to %d", s, Max)
	}
	return int(id), Check(int(id))
}

// Check checks that id is a uid or gid chown takes: every id the configuration hands to the
// sinks and the socket passes it.
func Check(id int) error {
	if id < 0 || id > Max {
		return fmt.Errorf("id %d is out of range: ids run from 0 to %d", id, Max)
	}
	return nil
}
