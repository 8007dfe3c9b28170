// Package config builds the agent's runtime configuration.
//
// Settings come from four places, each overriding the one before: built-in defaults, an HCL
// config file, the environment, and command-line flags. Load runs the whole pipeline — parse the
// file, apply the environment, apply the flags, validate — and returns a typed Config, or an
// error that wraps ErrInvalid and lists every problem found, each naming the setting, where it
// was set (file:line, variable or flag) and what to change.
//
// The settings, their keys, variables, flags and defaults are declared once, in schema.go;
// README's "Configuration reference" documents them for users. Unknown blocks and attributes
// are errors, so a typo never silently falls back to a default.
//
// The file is HCL version 1, the syntax Vault and Vault Agent read their config files with
// (github.com/hashicorp/hcl), without interpolation: a string that contains "${" is an error,
// as are variables, functions and expressions (internal/hclfile). A string attribute also takes a number
// or true/false, as written: mode = 0600 is "0600". A bool takes true or false, or "true" or
// "false" in quotes. Errors name the file and line of each fault, and for a syntax error the
// column (config.hcl:3:14).
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/hclfile"
)

// ErrInvalid is wrapped by every error Load returns: the configuration cannot be used as given
// and will not start working by waiting. It is the kind failure.Config (exit code 2).
var ErrInvalid = failure.Config

// Token formats a file sink can write.
const (
	FormatToken = "token" // the bare token, no trailing newline
	FormatJSON  = "json"  // a JSON object with the token and its metadata
	FormatEnv   = "env"   // VAULT_TOKEN=<token>, for systemd's EnvironmentFile=
)

// Config is the validated runtime configuration.
type Config struct {
	Source    string // the config file's path, or "" when there was none
	Vault     Vault
	Auth      Auth
	Sinks     []FileSink
	Socket    *SocketSink // the local API socket; nil when not configured
	Health    Health      // the health listener; none when its Address is ""
	Log       Log
	Lifecycle Lifecycle
	Warnings  []string // usable but risky settings, for the command to log at startup

	// ExitAfterAuth is a Vault Agent config's exit_after_auth: log in once, write the sinks and
	// exit, as --once does. The native schema has no such setting.
	ExitAfterAuth bool
}

// Vault says how to reach the Vault server.
type Vault struct {
	// Addresses are Vault's URLs, tried in this order (vault.Selector): one, or each node of
	// an HA cluster. The file takes one or a list; VAULT_ADDR and --vault-addr give one.
	Addresses     []string
	Namespace     string
	CACert        string
	CAPath        string
	ClientCert    string
	ClientKey     string
	TLSServerName string
	TLSSkipVerify bool
}

// Address is the first of the addresses: the one messages name, and the one given to
// programs as VAULT_ADDR.
func (v Vault) Address() string {
	if len(v.Addresses) == 0 {
		return ""
	}
	return v.Addresses[0]
}

// Auth says how to log in.
type Auth struct {
	Method      string // "aws"
	Type        string // "iam"
	Role        string // empty: Vault uses the IAM principal's friendly name
	Mount       string // where the auth method is enabled, without leading or trailing slashes
	HeaderValue string // X-Vault-AWS-IAM-Server-ID; empty: not sent
	STSRegion   string // the region the GetCallerIdentity request is signed for
	STSEndpoint string // the STS URL the signed request names
	IMDSv2Only  bool   // never fall back to IMDSv1 for instance credentials or the identity document
	Signature   string // ec2: SignatureRSA2048, SignaturePKCS7 or SignatureIdentity; "" for iam
	NonceFile   string // ec2: where the client nonce is kept across restarts; "" for iam

	AssumeRole AssumeRole // iam: a role assumed on top of the AWS SDK's credentials; zero = none
}

// AssumeRole is a role the iam type assumes (sts:AssumeRole) with the credentials of the AWS
// SDK's chain, and signs the login with. The STS client that assumes it follows the AWS SDK's
// settings (AWS_REGION, AWS_ENDPOINT_URL_STS), not sts_region and sts_endpoint, which say what
// the login request is signed for.
type AssumeRole struct {
	ARN         string        // "" = no role is assumed
	ExternalID  string        // sent as ExternalId when set
	SessionName string        // "" = xauth-agent-<hostname>
	Duration    time.Duration // of the assumed credentials, 15m to 12h; DefaultAssumeRoleDuration when ARN is set
}

// DefaultAssumeRoleDuration is how long assumed-role credentials last when
// assume_role_duration is not set: the AWS SDK's default, and STS's minimum.
const DefaultAssumeRoleDuration = 15 * time.Minute

// Signature types of the ec2 auth type: which signed form of the instance identity document is
// sent to Vault.
const (
	SignatureRSA2048  = "rsa2048"  // PKCS#7 from /instance-identity/rsa2048 (RSA-2048, SHA-256)
	SignaturePKCS7    = "pkcs7"    // PKCS#7 from /instance-identity/pkcs7 (DSA)
	SignatureIdentity = "identity" // /instance-identity/document with its /signature
)

// DefaultNonceFile is where the ec2 auth type keeps its client nonce with the default state
// directory: "nonce" in the state directory.
const DefaultNonceFile = DefaultStateDir + "/nonce"

// FileSink is a file the token is written to.
type FileSink struct {
	Path   string      // absolute and clean
	Mode   os.FileMode // never 0: a file no one may read is refused
	Owner  string      // user name or numeric uid, as written; empty: the agent's user
	Group  string      // group name or numeric gid, as written; empty: the agent's group
	UID    int         // Owner resolved on this host; -1 when Owner is empty
	GID    int         // Group resolved on this host; -1 when Group is empty
	Format string      // FormatToken, FormatJSON or FormatEnv

	// WrapTTL, when not 0, makes the file hold a wrapping token of each new token, living this
	// long (wrap_ttl, as Vault Agent's sink option), with Format FormatToken or FormatJSON.
	WrapTTL time.Duration

	OnChange        []string      // the command run after the file got a new token; nil: none
	OnChangeSplay   time.Duration // a random delay up to this before each run; 0: none
	OnChangeTimeout time.Duration // the command is killed after this; 0: the runner's default, 30s
}

// Health is the health listener: /v1/livez, /v1/readyz and /metrics over HTTP on a loopback
// TCP address.
type Health struct {
	Address string // host:port, the host a loopback IP address; "" = no listener
}

// SocketSink is the local API: the token over HTTP on a unix socket, for
// callers whose uid or gid is allowed.
type SocketSink struct {
	Path      string      // absolute and clean
	Mode      os.FileMode // never 0
	Group     string      // group name or numeric gid, as written; empty: the agent's group
	GID       int         // Group resolved on this host; -1 when Group is empty
	AllowUIDs []int
	AllowGIDs []int
}

// Lifecycle tunes the daemon.
type Lifecycle struct {
	MinBackoff        time.Duration // first wait after a failure (default 1s)
	MaxBackoff        time.Duration // longest wait between attempts (default 5m)
	RevokeOnExit      bool          // revoke the token when the daemon stops
	RemoveSinksOnExit bool          // remove the token files when the daemon stops

	// StateDir is persistent (the unit's StateDirectory=): the daemon's lock and the ec2
	// nonce. RuntimeDir is memory (the unit's RuntimeDirectory=, tmpfs): the daemon's token
	// record (TokenRecordFile), kept across restarts. "" when not set: Dirs gives the defaults.
	StateDir, RuntimeDir string
}

// Dirs returns the state and runtime directories: as set, else the first directory systemd
// names in $STATE_DIRECTORY or $RUNTIME_DIRECTORY (read through env, which may be nil: the
// unit's StateDirectory= and RuntimeDirectory=), else DefaultStateDir or DefaultRuntimeDir.
func (lc Lifecycle) Dirs(env func(string) (string, bool)) (state, runtime string) {
	pick := func(set, name, def string) string {
		if set != "" {
			return set
		}
		if env != nil {
			if v, ok := env(name); ok {
				if first, _, _ := strings.Cut(v, ":"); filepath.IsAbs(first) {
					return filepath.Clean(first)
				}
			}
		}
		return def
	}
	return pick(lc.StateDir, "STATE_DIRECTORY", DefaultStateDir), pick(lc.RuntimeDir, "RUNTIME_DIRECTORY", DefaultRuntimeDir)
}

// The directories' defaults outside systemd, which sets $STATE_DIRECTORY and
// $RUNTIME_DIRECTORY from the unit's StateDirectory= and RuntimeDirectory=.
const (
	DefaultStateDir   = "/var/lib/xauth-agent"
	DefaultRuntimeDir = "/run/xauth-agent"
)

// TokenRecordFile is the name of the daemon's token record in the runtime directory.
const TokenRecordFile = "resume.json"

// Log says how the agent logs.
type Log struct {
	Level  string // debug, info, warn or error
	Format string // json or console
}

// Load reads the config file at path (none when path is ""), applies the environment read
// through env (nil means an empty environment) and the overrides, and validates the result.
// Environment variables set to the empty string count as unset.
//
// Every error wraps ErrInvalid; validation problems are all reported together.
func Load(path string, env func(string) (string, bool), o Overrides) (*Config, error) {
	var src []byte
	if path != "" {
		var err error
		src, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: read config file: %w", ErrInvalid, err)
		}
	}
	return load(path, src, env, o)
}

// load is Load after the file has been read.
func load(path string, src []byte, env func(string) (string, bool), o Overrides) (*Config, error) {
	l := &loader{cfg: Config{Auth: Auth{Method: "aws"}}, from: map[string]string{}, env: env}
	l.schema = settings(&l.cfg)
	setDefaults(l.schema)
	if path != "" {
		items, err := hclfile.Parse(path, src)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		l.cfg.Source = path
		if isVaultAgent(items) {
			l.applyVaultAgent(path, items)
		} else {
			l.applyFile(items)
		}
	}
	if env != nil {
		l.applyEnv(env)
	}
	l.applyFlags(o)
	l.validate()

	if len(l.errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(l.errs...))
	}
	return &l.cfg, nil
}

// loader carries the configuration through the pipeline, with what validation needs to say
// where a bad value came from.
type loader struct {
	cfg    Config
	schema []setting // settings(&cfg): the schema bound to cfg

	// from maps a setting's file name ("auth.sts_region") to where its value was set:
	// "config.hcl:12", "XAUTH_STS_REGION" or "--sts-region". Defaults have no entry.
	from map[string]string

	// sinkFrom[i] says where cfg.Sinks[i] was defined: "config.hcl:20" or "--sink-file".
	sinkFrom []string

	// socketFrom says where cfg.Socket was defined: "config.hcl:30".
	socketFrom string

	env func(string) (string, bool) // Load's, for the directories' defaults (Lifecycle.Dirs)

	errs []error
}
