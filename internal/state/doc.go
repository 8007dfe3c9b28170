// Package state is what the daemon keeps between its runs: the lock that
// makes it the only agent on its state directory (Lock), and the record of
// its current token in the runtime directory (Record, Store), with the
// fingerprint of the settings that identify the login (Fingerprint), so
// that a restart can take the token over instead of logging in again.
//
// The state directory is persistent (systemd's StateDirectory=); the
// runtime directory is memory (RuntimeDirectory=, tmpfs): a live token is
// never written to persistent disk, so an image or a backup of the
// instance never carries one. OpenStore refuses any directory that is not
// on tmpfs or ramfs.
package state
