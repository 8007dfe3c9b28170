// Package localapi is the agent's local HTTP API on a unix socket: the
// socket sink ("curl --unix-socket ... /v1/token"), health, status and
// Prometheus metrics, and the client the token, status and wait commands
// use.
//
// # Protocol
//
// HTTP/1.1 on an AF_UNIX stream socket; the URL's host is ignored
// (http://localhost/...). Every request must carry "X-Xauth-Request: true",
// else 400: a guard against a local proxy or browser being tricked into
// relaying requests (server-side request forgery), as Vault Agent and the
// SPIFFE workload API require a fixed header. Endpoints (GET or HEAD;
// another method is 405, another path 404):
//
//	/v1/token   the raw token, text/plain, no trailing newline; ETag "<generation>",
//	            X-Xauth-Expires-At (RFC 3339), Cache-Control: no-store.
//	            Accept: application/json gives {token, accessor, policies,
//	            expires_at, renewable, generation}. 503 + Retry-After while no
//	            valid (unexpired) token is held.
//	            ?wait=60s with If-None-Match: "<generation>" long-polls: 200 as soon
//	            as the generation differs, 304 when the wait runs out. Without
//	            If-None-Match, ?wait waits for the first valid token. The wait is
//	            capped at MaxWait; a bad value is 400.
//	/v1/health  200 {"state", "token_state"} while a valid token is held, else 503;
//	            ?wait=30s waits for health.
//	/v1/status  JSON Status: state, accessor, policies, ttl, next renewal, last
//	            error, each sink's last write, version.
//	/v1/livez   200 {"live", "state"} while the lifecycle runs, else 503.
//	/v1/readyz  200 when a valid token is held and every sink holds it, else
//	            503; JSON Readiness with each sink's state (current, stale,
//	            failing and its error).
//	/metrics    Prometheus text format 0.0.4: the agent's counters and gauges,
//	            Go runtime and (on Linux) process figures.
//
// HealthServer serves /v1/livez, /v1/readyz and /metrics alone, over plain
// HTTP on a loopback TCP address (health { address }), without the header:
// none of those answers is a secret.
//
// The server serves the token and the lifecycle's state of a token.Latest
// (Options.State), the one the renew loop writes: the generation starts at
// 1 with the first token and grows by one with each new token string;
// renewals keep it.
//
// # Who may call
//
// Two layers. The socket file has the configured mode (default 0660) and
// group, so only the agent's user and the group's members can connect at
// all. Then each connection's credentials are read with SO_PEERCRED (uid,
// gid, pid at connect time) and SO_PEERGROUPS (supplementary groups); a
// caller is allowed when its uid is the agent's own effective uid, or is in
// AllowUIDs, or its primary or a supplementary gid is in AllowGIDs. Anyone
// else gets 403, and the refusal is logged with the uid, gid and pid (at
// most one line per uid per DenyLogInterval, with a count of the ones left
// out).
//
// Root is not special: uid 0 is allowed only when listed in AllowUIDs (or
// through a gid in AllowGIDs), or when the agent itself runs as root. Root
// can read the agent's memory anyway, so this is no barrier against root;
// it keeps root-run scripts from quietly depending on the agent's token and
// makes every consumer appear in the configuration. The agent's own uid is
// always allowed because it owns the token already.
//
// Reconfigure (a reload) changes the mode, group and allow lists of a
// running server: the socket file's mode and group change at once (first
// narrowed to what both the old and the new mode allow), requests are
// judged by the new lists from then on, and every open connection whose
// caller the new lists refuse, or who could no longer open the socket file
// (its owner, group and other write bits, as the kernel checks them at
// connect), is closed, parked long-polls included.
//
// # Bounds on what one caller holds
//
// A request's headers must arrive within 5 s and the whole request within
// 10 s; an idle keep-alive connection is closed after 2 minutes. Each
// response must be written within WriteTimeout (10 s) from its first byte,
// so a caller that stops reading, or pipelines requests and never reads the
// answers, loses the connection as soon as its socket buffer is full
// rather than holding it; a long-poll's wait (up to MaxWait) comes before
// its response and is not counted. One uid holds at most MaxConnsPerUID
// (128) connections at once: a connection over the cap is closed when it
// is accepted, and logged (at most once per DenyLogInterval per uid).
// Long-polls parked at once are capped at 1024 in all (429 beyond).
//
// # Creating the socket without a window
//
// bind(2) creates the socket file with mode 0777 minus the umask, and the
// socket accepts connections from then on; a chmod after bind leaves a
// window in which the file has the wrong mode. Changing the umask around
// bind would fix the mode but the umask is process-wide, so it would race
// with the file sink creating files in other goroutines. Instead Listen
// binds inside a fresh private directory (".<name>.tmp-<digits>", mode
// 0700, created next to the target so it is on the same filesystem), sets
// the mode and group on the socket there, where no other user can reach
// it, and then renames it over the target path. The socket appears at the path with its final mode and
// group, and the rename also replaces a stale socket atomically. Private
// directories a crash left behind are removed on the next Listen. (Peer
// credentials are checked on every connection anyway; the file mode is the
// first layer, not the only one.)
//
// Before that, Listen looks at the target: nothing there is fine; a socket
// that refuses connections is a stale one, left by an agent that crashed,
// and is replaced; a socket that accepts a connection belongs to a live
// agent, and Listen fails rather than steal it; anything that is not a
// socket (file, directory, symlink) is an error. Two agents started at the
// same instant on the same path could both pass the probe; the systemd
// unit prevents that. On exit Serve removes the socket file, but only if
// the file at the path is still the one it created.
//
// # Logging
//
// The token is never logged; log lines name the accessor.
package localapi
