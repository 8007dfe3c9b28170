package config

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// applyEnv applies the environment variables the agent reads. The VAULT_* names and meanings
// are those of the vault CLI; variables set to "" are ignored, as the vault CLI does.
func (l *loader) applyEnv(env func(string) (string, bool)) {
	c := &l.cfg
	str := func(name, key string, dst *string) {
		if v, ok := env(name); ok && v != "" {
			override(l, key, name, dst, &v)
		}
	}

	str("VAULT_ADDR", "vault.address", &c.Vault.Address)
	str("VAULT_NAMESPACE", "vault.namespace", &c.Vault.Namespace)
	str("VAULT_CACERT", "vault.ca_cert", &c.Vault.CACert)
	str("VAULT_CAPATH", "vault.ca_path", &c.Vault.CAPath)
	str("VAULT_CLIENT_CERT", "vault.client_cert", &c.Vault.ClientCert)
	str("VAULT_CLIENT_KEY", "vault.client_key", &c.Vault.ClientKey)
	str("VAULT_TLS_SERVER_NAME", "vault.tls_server_name", &c.Vault.TLSServerName)
	if v, ok := env("VAULT_SKIP_VERIFY"); ok && v != "" {
		skip, err := strconv.ParseBool(v)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("VAULT_SKIP_VERIFY %q is not a boolean: set it to true or false, or unset it", v))
		} else {
			override(l, "vault.tls_skip_verify", "VAULT_SKIP_VERIFY", &c.Vault.TLSSkipVerify, &skip)
		}
	}

	str("XAUTH_ROLE", "auth.role", &c.Auth.Role)
	str("XAUTH_MOUNT", "auth.mount", &c.Auth.Mount)
	str("XAUTH_HEADER_VALUE", "auth.header_value", &c.Auth.HeaderValue)
	str("XAUTH_STS_REGION", "auth.sts_region", &c.Auth.STSRegion)
	str("XAUTH_STS_ENDPOINT", "auth.sts_endpoint", &c.Auth.STSEndpoint)
	str("XAUTH_ASSUME_ROLE_ARN", "auth.assume_role_arn", &c.Auth.AssumeRole.ARN)
	str("XAUTH_STATE_DIR", "lifecycle.state_dir", &c.Lifecycle.StateDir)
	str("XAUTH_RUNTIME_DIR", "lifecycle.runtime_dir", &c.Lifecycle.RuntimeDir)
	str("XAUTH_LOG_LEVEL", "log.level", &c.Log.Level)
	str("XAUTH_LOG_FORMAT", "log.format", &c.Log.Format)
}

// applyFlags applies the command-line overrides. A flag set to "" does set the value, so a
// flag can clear what the file or the environment set.
func (l *loader) applyFlags(o Overrides) {
	c := &l.cfg
	override(l, "vault.address", "--vault-addr", &c.Vault.Address, o.VaultAddr)
	override(l, "auth.role", "--role", &c.Auth.Role, o.Role)
	override(l, "auth.mount", "--mount", &c.Auth.Mount, o.Mount)
	override(l, "auth.header_value", "--header-value", &c.Auth.HeaderValue, o.HeaderValue)
	override(l, "auth.sts_region", "--sts-region", &c.Auth.STSRegion, o.STSRegion)
	override(l, "auth.sts_endpoint", "--sts-endpoint", &c.Auth.STSEndpoint, o.STSEndpoint)
	override(l, "auth.imds_v2_only", "--imds-v2-only", &c.Auth.IMDSv2Only, o.IMDSv2Only)
	override(l, "auth.type", "--auth-type", &c.Auth.Type, o.AuthType)
	override(l, "auth.nonce_file", "--nonce-file", &c.Auth.NonceFile, o.NonceFile)
	override(l, "auth.assume_role_arn", "--assume-role-arn", &c.Auth.AssumeRole.ARN, o.AssumeRoleARN)
	override(l, "lifecycle.state_dir", "--state-dir", &c.Lifecycle.StateDir, o.StateDir)
	override(l, "lifecycle.runtime_dir", "--runtime-dir", &c.Lifecycle.RuntimeDir, o.RuntimeDir)
	override(l, "log.level", "--log-level", &c.Log.Level, o.LogLevel)
	override(l, "log.format", "--log-format", &c.Log.Format, o.LogFormat)

	format := FormatToken
	if o.SinkFormat != nil {
		format = *o.SinkFormat
		if len(o.SinkFiles) == 0 {
			l.errs = append(l.errs, fmt.Errorf("--sink-format %q is given without --sink-file: it applies only to sinks added with --sink-file; add one, or set format in the config file's sink block", format))
		} else if err := checkSinkFormat(format); err != nil {
			l.errs = append(l.errs, fmt.Errorf("--sink-format %w", err))
		}
	}
	for _, p := range o.SinkFiles {
		if !filepath.IsAbs(p) {
			l.errs = append(l.errs, fmt.Errorf("--sink-file %q is not an absolute path: use a full path such as \"/run/xauth-agent/token\"", p))
		}
		l.cfg.Sinks = append(l.cfg.Sinks, FileSink{Path: filepath.Clean(p), Mode: 0o600, UID: -1, GID: -1, Format: format})
		l.sinkFrom = append(l.sinkFrom, "--sink-file")
	}
}
