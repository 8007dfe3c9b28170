package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// file is the schema of a config file. Settings that the environment or flags can also set
// are pointers, so that "not in the file" differs from "set to the zero value".
type file struct {
	Vault     *vaultBlock
	Auth      *authBlock
	Sinks     []sinkBlock
	Log       *logBlock
	Lifecycle *lifecycleBlock

	// pos maps each attribute set in the vault, auth, log and lifecycle blocks ("auth.role")
	// to where it is set ("config.hcl:12").
	pos map[string]string
}

type vaultBlock struct {
	Address       *string
	Namespace     *string
	CACert        *string
	CAPath        *string
	ClientCert    *string
	ClientKey     *string
	TLSServerName *string
	TLSSkipVerify *bool
}

func (b *vaultBlock) fields() []field {
	return []field{
		stringField("address", &b.Address),
		stringField("namespace", &b.Namespace),
		stringField("ca_cert", &b.CACert),
		stringField("ca_path", &b.CAPath),
		stringField("client_cert", &b.ClientCert),
		stringField("client_key", &b.ClientKey),
		stringField("tls_server_name", &b.TLSServerName),
		boolField("tls_skip_verify", &b.TLSSkipVerify),
	}
}

// authBlock is `auth "<method>" { ... }`. Its body is decoded once the method is known, so that
// an unsupported method is reported as such rather than as a list of unexpected attributes.
type authBlock struct {
	Method   string
	MethodAt string // file:line of the method label
	body     []item
}

// awsAuthBody is the body of `auth "aws"`, for both types; validation checks that each
// type-specific attribute is used with its type.
type awsAuthBody struct {
	Type        *string
	Role        *string
	Mount       *string
	HeaderValue *string
	STSRegion   *string
	STSEndpoint *string
	IMDSv2Only  *bool
	Signature   *string
	NonceFile   *string

	AssumeRoleARN         *string
	AssumeRoleExternalID  *string
	AssumeRoleSessionName *string
	AssumeRoleDuration    *string
}

func (b *awsAuthBody) fields() []field {
	return []field{
		stringField("type", &b.Type),
		stringField("role", &b.Role),
		stringField("mount", &b.Mount),
		stringField("header_value", &b.HeaderValue),
		stringField("sts_region", &b.STSRegion),
		stringField("sts_endpoint", &b.STSEndpoint),
		boolField("imds_v2_only", &b.IMDSv2Only),
		stringField("signature", &b.Signature),
		stringField("nonce_file", &b.NonceFile),
		stringField("assume_role_arn", &b.AssumeRoleARN),
		stringField("assume_role_external_id", &b.AssumeRoleExternalID),
		stringField("assume_role_session_name", &b.AssumeRoleSessionName),
		stringField("assume_role_duration", &b.AssumeRoleDuration),
	}
}

// sinkBlock is `sink "<type>" { ... }`, decoded in two steps like authBlock.
type sinkBlock struct {
	Type   string
	TypeAt string // file:line of the type label
	body   []item
}

type fileSinkBody struct {
	Path   *string // required
	Mode   *string
	Owner  *string
	Group  *string
	Format *string
}

func (b *fileSinkBody) fields() []field {
	return []field{
		stringField("path", &b.Path),
		stringField("mode", &b.Mode),
		stringField("owner", &b.Owner),
		stringField("group", &b.Group),
		stringField("format", &b.Format),
	}
}

// lifecycleBlock tunes the daemon: retry backoff and what happens on exit.
type lifecycleBlock struct {
	MinBackoff        *string
	MaxBackoff        *string
	RevokeOnExit      *bool
	RemoveSinksOnExit *bool
	StateDir          *string
	RuntimeDir        *string
}

func (b *lifecycleBlock) fields() []field {
	return []field{
		stringField("min_backoff", &b.MinBackoff),
		stringField("max_backoff", &b.MaxBackoff),
		boolField("revoke_on_exit", &b.RevokeOnExit),
		boolField("remove_sinks_on_exit", &b.RemoveSinksOnExit),
		stringField("state_dir", &b.StateDir),
		stringField("runtime_dir", &b.RuntimeDir),
	}
}

type logBlock struct {
	Level  *string
	Format *string
}

func (b *logBlock) fields() []field {
	return []field{stringField("level", &b.Level), stringField("format", &b.Format)}
}

// topBlocks are the blocks of a config file, with the label each takes ("" for none).
var topBlocks = map[string]string{
	"vault":     "",
	"auth":      `method, as in auth "aws" { ... }`,
	"sink":      `type, as in sink "file" { ... } or sink "socket" { ... }`,
	"log":       "",
	"lifecycle": "",
}

// topBlockNames lists topBlocks in the order of the documentation.
var topBlockNames = []string{"vault", "auth", "sink", "log", "lifecycle"}

// decodeFile decodes a config file's top-level items. The bodies of auth and sink blocks are
// decoded later, by applyAuth and applySink.
func decodeFile(items []item) (*file, error) {
	f := &file{pos: map[string]string{}}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	first := map[string]string{} // block name -> where the first one is, for the blocks allowed once

	for _, it := range items {
		labelDoc, known := topBlocks[it.name]
		switch {
		case !known && it.assign:
			fail("%s: unknown attribute %q at the top level%s: settings go in the vault, auth, sink, log and lifecycle blocks",
				it.at, it.name, suggest(it.name, topBlockNames))
			continue
		case !known:
			fail("%s: unknown block %q%s: a config file has vault, auth, sink, log and lifecycle blocks; remove it, or check its spelling",
				it.at, it.name, suggest(it.name, topBlockNames))
			continue
		case it.assign:
			fail("%s: %s is a block: write %s { ... }, without \"=\"", it.at, it.name, it.name)
			continue
		}
		switch {
		case labelDoc == "" && len(it.labels) > 0:
			fail("%s: the %s block takes no label, and has %q: write %s { ... }", it.at, it.name, it.labels[0].text, it.name)
			continue
		case labelDoc != "" && len(it.labels) == 0:
			fail("%s: the %s block has no label: it takes its %s", it.at, it.name, labelDoc)
			continue
		case labelDoc != "" && len(it.labels) > 1:
			fail("%s: the %s block has %d labels: it takes one, its %s", it.labels[1].at, it.name, len(it.labels), labelDoc)
			continue
		}
		if it.name != "sink" {
			if prev, dup := first[it.name]; dup {
				fail("%s: Duplicate %s block: a config file has one, and another is at %s; merge them", it.at, it.name, prev)
				continue
			}
			first[it.name] = it.at
		}

		body, _ := it.object() // a block's value is always an object
		decode := func(fields []field) {
			pos, decodeErrs := decodeFields(it.name, body, fields)
			errs = append(errs, decodeErrs...)
			for name, at := range pos {
				f.pos[it.name+"."+name] = at
			}
		}
		switch it.name {
		case "vault":
			f.Vault = &vaultBlock{}
			decode(f.Vault.fields())
		case "auth":
			f.Auth = &authBlock{Method: it.labels[0].text, MethodAt: it.labels[0].at, body: body}
			for _, a := range body {
				f.pos["auth."+a.name] = a.at
			}
		case "sink":
			f.Sinks = append(f.Sinks, sinkBlock{Type: it.labels[0].text, TypeAt: it.labels[0].at, body: body})
		case "log":
			f.Log = &logBlock{}
			decode(f.Log.fields())
		case "lifecycle":
			f.Lifecycle = &lifecycleBlock{}
			decode(f.Lifecycle.fields())
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// field is one attribute of a block's schema: its name, and how to check and store its value.
type field struct {
	name string
	// decode stores it.val, or returns an error that names key ("vault.address").
	decode func(key string, it item) error
}

// decodeFields decodes the attributes of a block's body into fields. It returns where each
// attribute is set, and an error for each unknown attribute, nested block or value of the
// wrong type.
func decodeFields(block string, body []item, fields []field) (map[string]string, []error) {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	pos := map[string]string{}
	var errs []error
	for _, it := range body {
		i := slices.Index(names, it.name)
		switch {
		case i < 0 && it.assign:
			errs = append(errs, fmt.Errorf("%s: unknown attribute %q in the %s block%s: remove it, or use one of %s",
				it.at, it.name, block, suggest(it.name, names), strings.Join(names, ", ")))
		case i < 0:
			errs = append(errs, fmt.Errorf("%s: unknown block %q in the %s block: it has no blocks inside, only the attributes %s",
				it.at, it.name, block, strings.Join(names, ", ")))
		case !it.assign:
			errs = append(errs, fmt.Errorf("%s: %s.%s is an attribute, not a block: write %s = value instead", it.at, block, it.name, it.name))
		default:
			if err := fields[i].decode(block+"."+it.name, it); err != nil {
				errs = append(errs, err)
				continue
			}
			pos[it.name] = it.at
		}
	}
	return pos, errs
}

// stringField is a string attribute. A number or bool is taken as written, so mode = 0600
// reads as "0600".
func stringField(name string, dst **string) field {
	return field{name: name, decode: func(key string, it item) error {
		tok, ok := literal(it.val)
		if !ok {
			return fmt.Errorf("%s: %s is %s, not a string: write it in quotes", it.at, key, kind(it.val))
		}
		if (tok.Type == token.STRING || tok.Type == token.HEREDOC) && strings.Contains(tok.Text, "${") {
			return fmt.Errorf("%s: %s %s contains \"${\": the agent does not evaluate interpolations; write the value itself", it.at, key, clip(tok.Text))
		}
		s, isString, err := stringOf(tok)
		switch {
		case err != nil:
			return fmt.Errorf("%s: %s: %w", it.at, key, err)
		case !isString:
			s = tok.Text
		}
		*dst = &s
		return nil
	}}
}

// boolField is a true/false attribute; "true" and "false" in quotes are accepted too.
func boolField(name string, dst **bool) field {
	return field{name: name, decode: func(key string, it item) error {
		tok, _ := literal(it.val)
		var v bool
		switch {
		case tok.Type == token.BOOL:
			v = tok.Text == "true"
		case tok.Type == token.STRING && (tok.Text == `"true"` || tok.Text == `"false"`):
			v = tok.Text == `"true"`
		default:
			return fmt.Errorf("%s: %s %s is not a bool: write true or false", it.at, key, describeValue(it.val))
		}
		*dst = &v
		return nil
	}}
}

// intsField is a list of whole numbers, such as [1000, 1001].
func intsField(name string, dst *[]int) field {
	return field{name: name, decode: func(key string, it item) error {
		list, ok := it.val.(*ast.ListType)
		if !ok {
			return fmt.Errorf("%s: %s is %s, not a list: write it in brackets, such as [1000]", it.at, key, kind(it.val))
		}
		ids := make([]int, 0, len(list.List))
		for _, e := range list.List {
			tok, _ := literal(e)
			text := tok.Text
			if tok.Type == token.STRING {
				text, _ = unquote(tok)
			}
			n, err := strconv.Atoi(text)
			if err != nil || (tok.Type != token.NUMBER && tok.Type != token.STRING) {
				return fmt.Errorf("%s: %s has %s, which is not a whole number: write whole numbers, such as [1000, 1001]", it.at, key, describeValue(e))
			}
			ids = append(ids, n)
		}
		if len(ids) == 0 {
			ids = nil // as when the attribute is not set, which is what NativeHCL writes for it
		}
		*dst = ids
		return nil
	}}
}

// describeValue shows a literal as written, or says what kind of value n is.
func describeValue(n ast.Node) string {
	if tok, ok := literal(n); ok {
		return clip(tok.Text)
	}
	return kind(n)
}

// applyFile copies the settings the file sets into the config, and checks the ones only a
// file can set: the auth method and type, and the sinks.
func (l *loader) applyFile(f *file) {
	maps.Copy(l.from, f.pos)
	c := &l.cfg

	if v := f.Vault; v != nil {
		set(&c.Vault.Address, v.Address)
		set(&c.Vault.Namespace, v.Namespace)
		set(&c.Vault.CACert, v.CACert)
		set(&c.Vault.CAPath, v.CAPath)
		set(&c.Vault.ClientCert, v.ClientCert)
		set(&c.Vault.ClientKey, v.ClientKey)
		set(&c.Vault.TLSServerName, v.TLSServerName)
		set(&c.Vault.TLSSkipVerify, v.TLSSkipVerify)
	}

	if a := f.Auth; a != nil {
		l.applyAuth(a)
	}

	for _, s := range f.Sinks {
		l.applySink(s)
	}

	if g := f.Log; g != nil {
		set(&c.Log.Level, g.Level)
		set(&c.Log.Format, g.Format)
	}

	if lc := f.Lifecycle; lc != nil {
		l.duration("lifecycle.min_backoff", lc.MinBackoff, &c.Lifecycle.MinBackoff)
		l.duration("lifecycle.max_backoff", lc.MaxBackoff, &c.Lifecycle.MaxBackoff)
		set(&c.Lifecycle.RevokeOnExit, lc.RevokeOnExit)
		set(&c.Lifecycle.RemoveSinksOnExit, lc.RemoveSinksOnExit)
		set(&c.Lifecycle.StateDir, lc.StateDir)
		set(&c.Lifecycle.RuntimeDir, lc.RuntimeDir)
	}
}

// duration parses a Go duration ("1s", "5m") set in the file.
func (l *loader) duration(key string, v *string, dst *time.Duration) {
	if v == nil {
		return
	}
	d, err := time.ParseDuration(*v)
	if err != nil || d <= 0 {
		l.fail(fmt.Errorf("%s: %s %q is not a positive duration: write it like \"1s\", \"30s\" or \"5m\"", l.from[key], key, *v))
		return
	}
	*dst = d
}

func (l *loader) applyAuth(a *authBlock) {
	if a.Method != "aws" {
		l.fail(fmt.Errorf("%s: auth method %q is not supported: use auth \"aws\"", a.MethodAt, a.Method))
		return
	}
	var b awsAuthBody
	if _, errs := decodeFields("auth", a.body, b.fields()); errs != nil {
		l.errs = append(l.errs, errs...)
		return
	}

	c := &l.cfg.Auth
	set(&c.Type, b.Type) // checked by validateAuth, after --auth-type
	set(&c.Role, b.Role)
	set(&c.Mount, b.Mount)
	set(&c.HeaderValue, b.HeaderValue)
	set(&c.STSRegion, b.STSRegion)
	set(&c.STSEndpoint, b.STSEndpoint)
	set(&c.IMDSv2Only, b.IMDSv2Only)
	set(&c.Signature, b.Signature)
	set(&c.NonceFile, b.NonceFile)
	set(&c.AssumeRole.ARN, b.AssumeRoleARN)
	set(&c.AssumeRole.ExternalID, b.AssumeRoleExternalID)
	set(&c.AssumeRole.SessionName, b.AssumeRoleSessionName)
	if v := b.AssumeRoleDuration; v != nil {
		// Any Go duration here; validateAssumeRole checks the range STS allows.
		d, err := time.ParseDuration(*v)
		if err != nil {
			l.fail(fmt.Errorf("%s: auth.assume_role_duration %q is not a duration: write it like \"15m\", \"1h\" or \"12h\"", l.from["auth.assume_role_duration"], *v))
		} else {
			c.AssumeRole.Duration = d
		}
	}
}

func (l *loader) applySink(s sinkBlock) {
	switch s.Type {
	case "file":
	case "socket":
		l.applySocketSink(s)
		return
	default:
		l.fail(fmt.Errorf("%s: sink type %q is not supported: use sink \"file\" or sink \"socket\"", s.TypeAt, s.Type))
		return
	}
	var b fileSinkBody
	at, errs := decodeFields("sink", s.body, b.fields())
	if b.Path == nil && errs == nil {
		errs = append(errs, fmt.Errorf("%s: sink \"file\" has no path: \"path\" is required; set it to the token file, such as path = \"/run/xauth-agent/token\"", s.TypeAt))
	}
	if errs != nil {
		l.errs = append(l.errs, errs...)
		return
	}

	sink := FileSink{Mode: 0o600, Owner: deref(b.Owner), Group: deref(b.Group), Format: FormatToken}
	if !filepath.IsAbs(*b.Path) {
		l.fail(fmt.Errorf("%s: sink path %q is not absolute: use a full path such as \"/run/xauth-agent/token\"", at["path"], *b.Path))
	}
	sink.Path = filepath.Clean(*b.Path)
	sink.UID, sink.GID = l.ownerIDs(fmt.Sprintf("sink %q", sink.Path), sink.Owner, sink.Group, at)
	if b.Mode != nil {
		mode, err := parseMode(*b.Mode)
		if err != nil {
			l.fail(fmt.Errorf("%s: sink %q: mode %q %w", at["mode"], sink.Path, *b.Mode, err))
		}
		sink.Mode = mode
	}
	if b.Format != nil {
		sink.Format = *b.Format
		if err := checkSinkFormat(sink.Format); err != nil {
			l.fail(fmt.Errorf("%s: sink %q: format %w", at["format"], sink.Path, err))
		}
	}
	l.cfg.Sinks = append(l.cfg.Sinks, sink)
	l.sinkFrom = append(l.sinkFrom, at["path"])
}

// deref returns *p, or "" when p is nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// socketSinkBody is the body of `sink "socket"`: the local API.
type socketSinkBody struct {
	Path      *string // required
	Mode      *string
	Group     *string
	AllowUIDs []int
	AllowGIDs []int
}

func (b *socketSinkBody) fields() []field {
	return []field{
		stringField("path", &b.Path),
		stringField("mode", &b.Mode),
		stringField("group", &b.Group),
		intsField("allow_uids", &b.AllowUIDs),
		intsField("allow_gids", &b.AllowGIDs),
	}
}

func (l *loader) applySocketSink(s sinkBlock) {
	var b socketSinkBody
	at, errs := decodeFields("sink", s.body, b.fields())
	if b.Path == nil && errs == nil {
		errs = append(errs, fmt.Errorf("%s: sink \"socket\" has no path: \"path\" is required; set it to the socket file, such as path = \"/run/xauth-agent/agent.sock\"", s.TypeAt))
	}
	if errs != nil {
		l.errs = append(l.errs, errs...)
		return
	}
	if l.cfg.Socket != nil {
		l.fail(fmt.Errorf("%s: a second sink \"socket\": the agent serves one local API socket", s.TypeAt))
		return
	}
	sock := &SocketSink{Path: filepath.Clean(*b.Path), Mode: 0o660, Group: deref(b.Group), AllowUIDs: b.AllowUIDs, AllowGIDs: b.AllowGIDs}
	if !filepath.IsAbs(*b.Path) {
		l.fail(fmt.Errorf("%s: socket path %q is not absolute: use a full path such as \"/run/xauth-agent/agent.sock\"", at["path"], *b.Path))
	}
	sock.GID = l.resolve(fmt.Sprintf("sink \"socket\" %q", sock.Path), "group", sock.Group, at["group"], lookupGroup, "create the group, or give a numeric gid")
	if b.Mode != nil {
		mode, err := parseMode(*b.Mode)
		if err != nil {
			l.fail(fmt.Errorf("%s: sink \"socket\" %q: mode %q %w", at["mode"], sock.Path, *b.Mode, err))
		}
		sock.Mode = mode
	}
	if sock.Mode&0o002 != 0 {
		l.warn("sink \"socket\" %q (%s) has mode %04o: any local user can connect; access still needs allow_uids/allow_gids", sock.Path, at["path"], sock.Mode)
	}
	for _, id := range append(append([]int(nil), b.AllowUIDs...), b.AllowGIDs...) {
		if err := checkID(id); err != nil {
			l.fail(fmt.Errorf("%s: sink \"socket\" %q: allow_uids/allow_gids: %w", at["path"], sock.Path, err))
		}
	}
	l.cfg.Socket = sock
	l.socketFrom = at["path"]
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

// checkSinkFormat checks that format names a token format a file sink can write.
func checkSinkFormat(format string) error {
	switch format {
	case FormatToken, FormatJSON, FormatEnv:
		return nil
	}
	return fmt.Errorf("%q is not supported: use %q, %q or %q", format, FormatToken, FormatJSON, FormatEnv)
}
