package main

import (
	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	awsauth "github.com/hashicorp/vault/builtin/credential/aws"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

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
