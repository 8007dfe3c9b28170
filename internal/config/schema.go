package config

// The schema. Every setting is declared once, in settings (the vault, auth, log and lifecycle
// blocks) or in the table of its sink block (fileSinkAttrs, socketAttrs): its key in the file,
// the environment variable and flag that also set it, its default, and the field of Config it
// sets, typed (str, strs, urls, boolean, duration, mode, oneOf, absPath, idList). The tables drive reading the file
// (file.go), the environment and the flags (below), the flags cmd defines (Flags), what
// convert writes (NativeHCL) and the Vault Agent keys that mean the same (vaultagent.go).

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/awsname"
	"github.com/xauth-agent/xauth-agent/internal/hclfile"
)

// setting is one attribute of a config file block.
type setting struct {
	key   string // "block.attribute" ("auth.sts_region"); just the attribute in a sink's table
	env   string // the environment variable that sets it too, or ""
	flag  string // the flag that sets it too, without dashes, or ""
	usage string // the flag's help; Flags adds " (default <def>)"
	def   string // the default, as written in the file; NativeHCL writes a setting with one even when zero
	only  string // the auth type it applies to ("iam" or "ec2"), or "" for every type
	va    string // the Vault Agent key that sets it the same way ("vault.address"), or ""
	v     value  // the field it sets
}

// settings is the schema of the vault, auth, log and lifecycle blocks, bound to c: each
// setting sets its field of c. NativeHCL writes them in this order.
func settings(c *Config) []setting {
	v, a, r, lc := &c.Vault, &c.Auth, &c.Auth.AssumeRole, &c.Lifecycle
	const method = "auto_auth.method.config."
	return []setting{
		{key: "vault.address", env: "VAULT_ADDR", flag: "vault-addr", usage: "Vault address (overrides VAULT_ADDR and vault.address)", va: "vault.address", v: urls(&v.Addresses)},
		{key: "vault.namespace", env: "VAULT_NAMESPACE", va: "vault.namespace", v: str(&v.Namespace)},
		{key: "vault.ca_cert", env: "VAULT_CACERT", va: "vault.ca_cert", v: str(&v.CACert)},
		{key: "vault.ca_path", env: "VAULT_CAPATH", va: "vault.ca_path", v: str(&v.CAPath)},
		{key: "vault.client_cert", env: "VAULT_CLIENT_CERT", va: "vault.client_cert", v: str(&v.ClientCert)},
		{key: "vault.client_key", env: "VAULT_CLIENT_KEY", va: "vault.client_key", v: str(&v.ClientKey)},
		{key: "vault.tls_server_name", env: "VAULT_TLS_SERVER_NAME", va: "vault.tls_server_name", v: str(&v.TLSServerName)},
		{key: "vault.tls_skip_verify", env: "VAULT_SKIP_VERIFY", va: "vault.tls_skip_verify", v: boolean(&v.TLSSkipVerify)},

		{key: "auth.type", flag: "auth-type", usage: "aws auth type: iam|ec2", def: "iam", va: method + "type", v: str(&a.Type)},
		{key: "auth.role", env: "XAUTH_ROLE", flag: "role", usage: "Vault role on the aws auth mount", va: method + "role", v: str(&a.Role)},
		{key: "auth.mount", env: "XAUTH_MOUNT", flag: "mount", usage: "aws auth mount path", def: "aws", v: str(&a.Mount)},
		{key: "auth.header_value", env: "XAUTH_HEADER_VALUE", flag: "header-value", usage: "X-Vault-AWS-IAM-Server-ID value Vault expects",
			only: "iam", va: method + "header_value", v: str(&a.HeaderValue)},
		{key: "auth.sts_region", env: "XAUTH_STS_REGION", flag: "sts-region", usage: "region the GetCallerIdentity request is signed for",
			def: "us-east-1", only: "iam", v: str(&a.STSRegion)},
		{key: "auth.sts_endpoint", env: "XAUTH_STS_ENDPOINT", flag: "sts-endpoint", usage: "STS endpoint the request is signed for",
			def: awsname.GlobalSTSEndpoint, only: "iam", v: str(&a.STSEndpoint)},
		{key: "auth.assume_role_arn", env: "XAUTH_ASSUME_ROLE_ARN", flag: "assume-role-arn",
			usage: "iam: sign with this IAM role, assumed with the AWS SDK's credentials (its STS client follows AWS_REGION and AWS_ENDPOINT_URL_STS)",
			only:  "iam", v: str(&r.ARN)},
		{key: "auth.assume_role_external_id", only: "iam", v: str(&r.ExternalID)},
		{key: "auth.assume_role_session_name", only: "iam", v: str(&r.SessionName)},
		{key: "auth.assume_role_duration", only: "iam", v: duration(&r.Duration, `is not a duration: write it like "15m", "1h" or "12h"`)},
		{key: "auth.signature", only: "ec2", v: str(&a.Signature)},
		{key: "auth.nonce_file", flag: "nonce-file", usage: "ec2: file that keeps the client nonce across restarts (default <state-dir>/nonce)",
			only: "ec2", v: absPath(&a.NonceFile, DefaultNonceFile)},
		{key: "auth.imds_v2_only", flag: "imds-v2-only", usage: "never fall back to IMDSv1", v: boolean(&a.IMDSv2Only)},

		{key: "log.level", env: "XAUTH_LOG_LEVEL", flag: "log-level", usage: "debug|info|warn|error", def: "info", va: "log_level",
			v: oneOf(&c.Log.Level, "is not a log level: use debug, info, warn or error", "debug", "info", "warn", "error")},
		{key: "log.format", env: "XAUTH_LOG_FORMAT", flag: "log-format", usage: "json|console", def: "json", va: "log_format",
			v: oneOf(&c.Log.Format, "is not a log format: use json or console", "json", "console")},

		{key: "lifecycle.min_backoff", def: "1s", va: "auto_auth.method.min_backoff", v: duration(&lc.MinBackoff, backoffRefused)},
		{key: "lifecycle.max_backoff", def: "5m", va: "auto_auth.method.max_backoff", v: duration(&lc.MaxBackoff, backoffRefused)},
		{key: "lifecycle.revoke_on_exit", def: "false", v: boolean(&lc.RevokeOnExit)},
		{key: "lifecycle.remove_sinks_on_exit", def: "false", v: boolean(&lc.RemoveSinksOnExit)},
		// No def: unset, Lifecycle.Dirs reads systemd's $STATE_DIRECTORY and $RUNTIME_DIRECTORY.
		{key: "lifecycle.state_dir", env: "XAUTH_STATE_DIR", flag: "state-dir",
			usage: "daemon: persistent directory of its lock and the ec2 nonce (default $STATE_DIRECTORY, else " + DefaultStateDir + ")", v: absPath(&lc.StateDir, DefaultStateDir)},
		{key: "lifecycle.runtime_dir", env: "XAUTH_RUNTIME_DIR", flag: "runtime-dir",
			usage: "daemon: tmpfs directory of its token record, for restarts without a login (default $RUNTIME_DIRECTORY, else " + DefaultRuntimeDir + ")", v: absPath(&lc.RuntimeDir, DefaultRuntimeDir)},

		{key: "health.address", v: str(&c.Health.Address)},
	}
}

const backoffRefused = `is not a positive duration: write it like "1s", "30s" or "5m"`

// fileSinkAttrs is the schema of a sink "file" block, bound to s.
func fileSinkAttrs(s *FileSink) []setting {
	return []setting{
		{key: "path", v: str(&s.Path)}, // first: messages about the others name the sink by its path
		{key: "mode", def: "0600", v: mode(&s.Mode)},
		{key: "owner", v: str(&s.Owner)},
		{key: "group", v: str(&s.Group)},
		{key: "format", def: FormatToken, v: format(&s.Format)},
		{key: "wrap_ttl", v: duration(&s.WrapTTL, `is not a positive duration: write it like "5m" or "1h"`)},
		{key: "on_change", v: strs(&s.OnChange)},
		{key: "on_change_splay", v: duration(&s.OnChangeSplay, `is not a positive duration: write it like "10s" or "1m"`)},
		{key: "on_change_timeout", v: duration(&s.OnChangeTimeout, `is not a positive duration: write it like "30s" or "2m"`)},
	}
}

// socketAttrs is the schema of the sink "socket" block, bound to s.
func socketAttrs(s *SocketSink) []setting {
	return []setting{
		{key: "path", v: str(&s.Path)},
		{key: "mode", def: "0660", v: mode(&s.Mode)},
		{key: "group", v: str(&s.Group)},
		{key: "allow_uids", v: idList(&s.AllowUIDs)},
		{key: "allow_gids", v: idList(&s.AllowGIDs)},
	}
}

// inBlock returns the settings of block, keyed by their attribute name alone.
func inBlock(all []setting, block string) []setting {
	var attrs []setting
	for _, s := range all {
		if name, ok := strings.CutPrefix(s.key, block+"."); ok {
			s.key = name
			attrs = append(attrs, s)
		}
	}
	return attrs
}

// setDefaults sets each of attrs that has a default to it.
func setDefaults(attrs []setting) {
	for _, s := range attrs {
		if s.def != "" {
			_ = s.v.set(s.def) // the tables' defaults are valid: the tests load them
		}
	}
}

// value is the typed field a setting sets.
type value interface {
	// set sets the field from text: a file's literal, as written for a number or bool, an
	// environment variable or a flag. Its error completes `<setting> "<text>" `.
	set(text string) error
	// hcl returns the field as HCL, and whether it differs from the zero value.
	hcl() (string, bool)
}

// scalar is a field of one value, read by parse and written by format.
type scalar[T comparable] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
}

func (s scalar[T]) set(text string) error {
	v, err := s.parse(text)
	if err == nil {
		*s.p = v
	}
	return err
}

func (s scalar[T]) hcl() (string, bool) {
	var zero T
	return s.format(*s.p), *s.p != zero
}

// list is a field of several values, each read by parse and written by format. From the
// environment or a flag, the values are separated by commas.
type list[T any] struct {
	p      *[]T
	parse  func(string) (T, error)
	format func(T) string
}

func (l list[T]) set(text string) error {
	_, err := l.setEach(strings.Split(text, ","))
	return err
}

// setEach sets the field from the texts of the list's elements, or returns the index of the
// first one parse refuses; an empty list leaves the field nil.
func (l list[T]) setEach(texts []string) (int, error) {
	var vs []T
	for i, t := range texts {
		v, err := l.parse(t)
		if err != nil {
			return i, err
		}
		vs = append(vs, v)
	}
	*l.p = vs
	return 0, nil
}

func (l list[T]) hcl() (string, bool) {
	s := make([]string, len(*l.p))
	for i, v := range *l.p {
		s[i] = l.format(v)
	}
	return "[" + strings.Join(s, ", ") + "]", len(s) > 0
}

// listValue is a value the file gives as a list, [a, b].
type listValue interface {
	setEach(texts []string) (int, error)
}

// oneOrList is a list value the file may also give as one value, "a".
type oneOrList interface {
	listValue
	takesOne()
}

// urlList is vault.address: the file gives one URL or a list of them; the environment, a flag
// and a Vault Agent config give one (a comma separates nothing). validate checks each.
type urlList struct{ list[string] }

func urls(p *[]string) value {
	return urlList{list[string]{p, func(s string) (string, error) { return s, nil }, hclfile.Quote}}
}

func (u urlList) set(text string) error { *u.p = []string{text}; return nil }

func (u urlList) takesOne() {}

// hcl writes one URL as a string, as Vault's own configs do, and several as a list.
func (u urlList) hcl() (string, bool) {
	if len(*u.p) == 1 {
		return hclfile.Quote((*u.p)[0]), true
	}
	return u.list.hcl()
}

func str(p *string) value {
	return scalar[string]{p, func(s string) (string, error) { return s, nil }, hclfile.Quote}
}

// strs is a list of strings, such as a command and its arguments.
func strs(p *[]string) value {
	return list[string]{p, func(s string) (string, error) { return s, nil }, hclfile.Quote}
}

// boolean is true or false; the environment's "1" and "0" are taken too. Files are held to
// true and false (decode), and Vault Agent configs to what Vault takes (vaBool), so the error
// is the environment's.
func boolean(p *bool) value {
	return scalar[bool]{p, func(s string) (bool, error) {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, errors.New("is not a boolean: set it to true or false, or unset it")
		}
		return b, nil
	}, strconv.FormatBool}
}

// duration is a positive Go duration, such as "30s" or "5m"; refused is the error's text.
func duration(p *time.Duration, refused string) value {
	return scalar[time.Duration]{p, func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, errors.New(refused)
		}
		return d, nil
	}, func(d time.Duration) string { return hclfile.Quote(d.String()) }}
}

// mode is a sink's permission bits, in octal as in chmod; see parseMode.
func mode(p *os.FileMode) value {
	return scalar[os.FileMode]{p, parseMode, func(m os.FileMode) string { return fmt.Sprintf(`"%04o"`, uint32(m.Perm())) }}
}

// format is the token format of a file sink.
func format(p *string) value {
	return oneOf(p, fmt.Sprintf("is not supported: use %q, %q or %q", FormatToken, FormatJSON, FormatEnv), FormatToken, FormatJSON, FormatEnv)
}

// oneOf is a string that must be one of choices; refused is the error's text.
func oneOf(p *string, refused string, choices ...string) value {
	return scalar[string]{p, func(s string) (string, error) {
		if !slices.Contains(choices, s) {
			return "", errors.New(refused)
		}
		return s, nil
	}, hclfile.Quote}
}

// absPath is an absolute path, cleaned; example is one for the error.
func absPath(p *string, example string) value {
	return scalar[string]{p, func(s string) (string, error) {
		if !filepath.IsAbs(s) {
			return "", fmt.Errorf("is not an absolute path: use a full path such as %q", example)
		}
		return filepath.Clean(s), nil
	}, hclfile.Quote}
}

// idList is a list of uids or gids, such as [1000, 1001].
func idList(p *[]int) value {
	return list[int]{p, func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, errors.New("is not a whole number: write whole numbers, such as [1000, 1001]")
		}
		return n, nil
	}, strconv.Itoa}
}

// parseMode parses a sink's permission bits, written in octal as in chmod. "0000" is refused:
// it would leave the token to root alone, which no configuration means (a sink for root is
// "0600" with the agent running as root), and it reads too easily as "leave the mode alone",
// which is what Vault Agent's documentation says of it.
func parseMode(s string) (os.FileMode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 {
		return 0, errors.New(`is not an octal permission from "0001" to "0777": write it as in chmod, such as "0600"`)
	}
	if n == 0 {
		return 0, errors.New(`gives no one access: only root could read the token or connect; use "0600" for the agent's user alone, or "0640" with group for its readers`)
	}
	return os.FileMode(n), nil
}

// Overrides are the flags given on the command line, by name without dashes, each with the
// values given in order: the last one counts, except for --sink-file, which adds a file sink
// for each. Flags defines them and gives them after parsing; a flag not given is not there,
// so the environment or the file decides.
type Overrides map[string][]string

// The flags that add file sinks to the config file's.
const (
	sinkFileFlag   = "sink-file"
	sinkFormatFlag = "sink-format"
)

// Flags defines on fs a flag for each setting that has one, and --sink-file and
// --sink-format. The function it returns gives, after fs.Parse, the Overrides of those given.
func Flags(fs *flag.FlagSet) func() Overrides {
	ours := map[string]bool{sinkFileFlag: true, sinkFormatFlag: true}
	for _, s := range settings(&Config{}) {
		usage := s.usage
		if s.def != "" {
			usage += " (default " + s.def + ")"
		}
		if _, isBool := s.v.(scalar[bool]); isBool && s.flag != "" {
			fs.Bool(s.flag, false, usage)
		} else if s.flag != "" {
			fs.String(s.flag, "", usage)
		}
		ours[s.flag] = s.flag != ""
	}
	var files stringList
	fs.Var(&files, sinkFileFlag, "write the token to this `path` (repeatable)")
	fs.String(sinkFormatFlag, "", "format of --sink-file sinks: token|json|env")
	return func() Overrides {
		o := Overrides{}
		fs.Visit(func(f *flag.Flag) {
			if ours[f.Name] {
				o[f.Name] = []string{f.Value.String()}
			}
		})
		if len(files) > 0 {
			o[sinkFileFlag] = files
		}
		return o
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// applyEnv applies the environment variables of the settings that have one. The VAULT_*
// names and meanings are those of the vault CLI; a variable set to "" counts as unset, as the
// vault CLI does.
func (l *loader) applyEnv(env func(string) (string, bool)) {
	for _, s := range l.schema {
		if v, ok := env(s.env); s.env != "" && ok && v != "" {
			l.setFrom(s, v, s.env)
		}
	}
}

// applyFlags applies the command-line overrides. A flag set to "" does set the value, so a
// flag can clear what the file or the environment set.
func (l *loader) applyFlags(o Overrides) {
	for _, s := range l.schema {
		if vs := o[s.flag]; s.flag != "" && len(vs) > 0 {
			l.setFrom(s, vs[len(vs)-1], "--"+s.flag)
		}
	}

	var sink FileSink
	setDefaults(fileSinkAttrs(&sink))
	if vs := o[sinkFormatFlag]; len(vs) > 0 && len(o[sinkFileFlag]) == 0 {
		l.fail(fmt.Errorf("--sink-format %q is given without --sink-file: it applies only to sinks added with --sink-file; add one, or set format in the config file's sink block", vs[len(vs)-1]))
	} else if len(vs) > 0 {
		l.setFrom(setting{v: format(&sink.Format)}, vs[len(vs)-1], "--"+sinkFormatFlag)
	}
	for _, p := range o[sinkFileFlag] {
		if !filepath.IsAbs(p) {
			l.fail(fmt.Errorf("--sink-file %q is not an absolute path: use a full path such as \"/run/xauth-agent/token\"", p))
		}
		sink.Path, sink.UID, sink.GID = filepath.Clean(p), -1, -1
		l.cfg.Sinks = append(l.cfg.Sinks, sink)
		l.sinkFrom = append(l.sinkFrom, "--"+sinkFileFlag)
	}
}

// setFrom sets s from text that origin (a variable or a flag) gives, and records where it was
// set.
func (l *loader) setFrom(s setting, text, origin string) {
	if err := s.v.set(text); err != nil {
		l.fail(fmt.Errorf("%s %q %w", origin, text, err))
		return
	}
	if s.key != "" {
		l.from[s.key] = origin
	}
}
