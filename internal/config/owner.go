package config

import (
	"fmt"

	"github.com/xauth-agent/xauth-agent/internal/ids"
)

// ownerIDs resolves a sink's owner and group as startup does, and reports each one that does
// not resolve, naming the sink, the key and where it is set (at maps "owner" and "group" to
// file:line). It returns -1 for one that is not set, or that failed.
func (l *loader) ownerIDs(sink, owner, group string, at map[string]string) (uid, gid int) {
	uid = l.resolve(sink, "owner", owner, at["owner"], ids.UID, "create the user, or give a numeric uid")
	gid = l.resolve(sink, "group", group, at["group"], ids.GID, "create the group, or give a numeric gid")
	return uid, gid
}

// resolve resolves one owner or group setting; see ownerIDs.
func (l *loader) resolve(sink, key, value, at string, resolveID func(string) (int, error), fix string) int {
	id, err := resolveID(value)
	if err != nil {
		l.fail(fmt.Errorf("%s: %s: %s %q: %w; %s", at, sink, key, value, err, fix))
		return -1
	}
	return id
}
