package config

import (
	"errors"
	"fmt"
	"math"
	"os/user"
	"strconv"
	"strings"
)

// resolveID turns a user or group name, or a numeric id, into the id, as chown will use it;
// "" gives -1 (leave unchanged). byName looks a name up and returns its id in decimal.
func resolveID(s string, byName func(string) (string, error)) (int, error) {
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
		return 0, fmt.Errorf("id %s is out of range: ids run from 0 to %d", s, maxID)
	}
	return int(id), checkID(int(id))
}

// maxID is the largest uid or gid: 2^32-1 is chown's "unchanged".
const maxID = math.MaxUint32 - 1

// checkID checks that id is a uid or gid chown takes: every id the
// configuration hands to the sinks and the socket passes it.
func checkID(id int) error {
	if id < 0 || id > maxID {
		return fmt.Errorf("id %d is out of range: ids run from 0 to %d", id, maxID)
	}
	return nil
}

func lookupUser(name string) (string, error) {
	u, err := user.Lookup(name)
	if errors.As(err, new(user.UnknownUserError)) {
		return "", errors.New("no such user on this host")
	}
	if err != nil {
		return "", err
	}
	return u.Uid, nil
}

func lookupGroup(name string) (string, error) {
	g, err := user.LookupGroup(name)
	if errors.As(err, new(user.UnknownGroupError)) {
		return "", errors.New("no such group on this host")
	}
	if err != nil {
		return "", err
	}
	return g.Gid, nil
}

// ownerIDs resolves a sink's owner and group as startup does, and reports each one that does
// not resolve, naming the sink, the key and where it is set (at maps "owner" and "group" to
// file:line). It returns -1 for one that is not set, or that failed.
func (l *loader) ownerIDs(sink, owner, group string, at map[string]string) (uid, gid int) {
	uid = l.resolve(sink, "owner", owner, at["owner"], lookupUser, "create the user, or give a numeric uid")
	gid = l.resolve(sink, "group", group, at["group"], lookupGroup, "create the group, or give a numeric gid")
	return uid, gid
}

// resolve resolves one owner or group setting; see ownerIDs.
func (l *loader) resolve(sink, key, value, at string, byName func(string) (string, error), fix string) int {
	id, err := resolveID(value, byName)
	if err != nil {
		l.fail(fmt.Errorf("%s: %s: %s %q: %w; %s", at, sink, key, value, err, fix))
		return -1
	}
	return id
}
