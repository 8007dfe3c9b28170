// Command vault-loopback runs a real Vault core (in-memory storage, the aws
// credential backend and the kv secrets engine only) on 127.0.0.1 for xauth-agent's end-to-end tests
// and demo. It initialises and unseals itself and prints one JSON line on
// stdout: {"addr": "...", "root_token": "..."}. It exits on SIGTERM/SIGINT
// or when its stdin closes, so a parent that dies never leaves it behind.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	awsauth "github.com/hashicorp/vault/builtin/credential/aws"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/internalshared/configutil"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/physical/inmem"
	"github.com/hashicorp/vault/vault"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vault-loopback:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logLevel := hclog.Warn
	if os.Getenv("VAULT_LOOPBACK_LOG") == "debug" {
		logLevel = hclog.Debug
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "vault", Level: logLevel, Output: os.Stderr})

	phys, err := inmem.NewInmem(nil, logger)
	if err != nil {
		return fmt.Errorf("in-memory storage: %w", err)
	}
	core, err := vault.NewCore(&vault.CoreConfig{
		Physical:           phys,
		Logger:             logger,
		DisableMlock:       true,
		BuiltinRegistry:    awsOnlyRegistry{},
		CredentialBackends: map[string]logical.Factory{"aws": awsauth.Factory},
		LogicalBackends:    map[string]logical.Factory{"kv": kv.Factory},
	})
	if err != nil {
		return fmt.Errorf("new core: %w", err)
	}
	init, err := core.Initialize(ctx, &vault.InitParams{
		BarrierConfig:  &vault.SealConfig{SecretShares: 1, SecretThreshold: 1},
		RecoveryConfig: &vault.SealConfig{SecretShares: 1, SecretThreshold: 1},
	})
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	if _, err := core.Unseal(init.SecretShares[0]); err != nil {
		return fmt.Errorf("unseal: %w", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:"+envOr("VAULT_LOOPBACK_PORT", "0"))
	if err != nil {
		return err
	}
	handler := vaulthttp.Handler.Handler(&vault.HandlerProperties{
		Core:           core,
		ListenerConfig: &configutil.Listener{Type: "tcp", Address: ln.Addr().String()},
	})
	srv := &http.Server{Handler: handler}
	go func() { _ = srv.Serve(ln) }()

	out, _ := json.Marshal(map[string]string{
		"addr":       "http://" + ln.Addr().String(),
		"root_token": init.RootToken,
	})
	fmt.Println(string(out))

	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
	_ = srv.Close()
	if err := core.Shutdown(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// awsOnlyRegistry is a BuiltinRegistry that knows only the aws credential
// plugin and the kv secrets plugin; Vault's full registry pulls in plugins
// that do not compile from the module proxy.
type awsOnlyRegistry struct{}

// builtin returns the factory of the plugin name of type t, if this registry has it.
func (awsOnlyRegistry) builtin(name string, t consts.PluginType) (logical.Factory, bool) {
	switch {
	case t == consts.PluginTypeCredential && name == "aws":
		return awsauth.Factory, true
	case t == consts.PluginTypeSecrets && name == "kv":
		return kv.Factory, true
	}
	return nil, false
}

func (r awsOnlyRegistry) Contains(name string, t consts.PluginType) bool {
	_, ok := r.builtin(name, t)
	return ok
}

func (r awsOnlyRegistry) Get(name string, t consts.PluginType) (func() (interface{}, error), bool) {
	f, ok := r.builtin(name, t)
	if !ok {
		return nil, false
	}
	return func() (interface{}, error) { return f, nil }, true
}

func (awsOnlyRegistry) Keys(t consts.PluginType) []string {
	switch t {
	case consts.PluginTypeCredential:
		return []string{"aws"}
	case consts.PluginTypeSecrets:
		return []string{"kv"}
	}
	return nil
}

func (r awsOnlyRegistry) DeprecationStatus(name string, t consts.PluginType) (consts.DeprecationStatus, bool) {
	if !r.Contains(name, t) {
		return consts.Unknown, false
	}
	return consts.Supported, true
}

func (awsOnlyRegistry) IsBuiltinEntPlugin(string, consts.PluginType) bool { return false }
