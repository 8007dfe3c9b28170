// Command vault-loopback runs real Vault cores (in-memory storage, the aws
// credential backend and the kv secrets engine only) on 127.0.0.1 for
// xauth-agent's end-to-end tests, bench and demo: one server by default, or
// with -nodes N an HA cluster of N servers on shared in-memory HA storage,
// whose standbys forward requests to the active node (see cluster).
//
// It initialises Vault with one key share, unseals every node and prints
// one JSON line on stdout:
//
//	{"addr": "http://127.0.0.1:port", "addrs": [every node's address],
//	 "root_token": "...", "unseal_key": "<base64>", "control": "http://127.0.0.1:port"}
//
// addr is the first node's address. control is a small HTTP API that
// stops and starts nodes (controlHandler). It exits on SIGTERM/SIGINT or
// when its stdin closes, so a parent that dies never leaves it behind.
//
// VAULT_LOOPBACK_PORT fixes the first node's port (node i listens on that
// port + i); VAULT_LOOPBACK_LOG=debug turns on Vault's debug log on stderr.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vault-loopback:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("vault-loopback", flag.ContinueOnError)
	nodes := fs.Int("nodes", 1, "number of Vault servers; more than one makes an HA cluster")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodes < 1 {
		return fmt.Errorf("-nodes %d: want at least 1", *nodes)
	}
	basePort := 0
	if v := os.Getenv("VAULT_LOOPBACK_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p+*nodes > 65536 {
			return fmt.Errorf("VAULT_LOOPBACK_PORT=%q: want a TCP port", v)
		}
		basePort = p
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logLevel := hclog.Warn
	if os.Getenv("VAULT_LOOPBACK_LOG") == "debug" {
		logLevel = hclog.Debug
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "vault", Level: logLevel, Output: os.Stderr})

	c, err := newCluster(ctx, *nodes, basePort, logger)
	if err != nil {
		return err
	}
	defer func() { _ = c.stopAll() }()

	controlLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	control := &http.Server{Handler: controlHandler(c)}
	go func() { _ = control.Serve(controlLn) }()
	defer control.Close()

	var addrs []string
	for _, n := range c.states() {
		addrs = append(addrs, n.Addr)
	}
	out, err := json.Marshal(map[string]any{
		"addr":       addrs[0],
		"addrs":      addrs,
		"root_token": c.rootToken,
		"unseal_key": base64.StdEncoding.EncodeToString(c.unsealKey),
		"control":    "http://" + controlLn.Addr().String(),
	})
	if err != nil {
		return err
	}
	fmt.Println(string(out))

	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
	return nil
}
