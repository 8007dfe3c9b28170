package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// file is the schema of a config file. Settings that the environment or flags can also set
// are pointers, so that "not in the file" differs from "set to the zero value".
type file struct {
	Vault *vaultBlock `hcl:"vault,block"`
	Auth  *authBlock  `hcl:"auth,block"`
	Sinks []sinkBlock `hcl:"sink,block"`
	Log   *logBlock   `hcl:"log,block"`

	Lifecycle *lifecycleBlock `hcl:"lifecycle,block"`

	// pos maps each attribute set in the vault, auth and log blocks ("auth.role") to where it
	// is set ("config.hcl:12").
	pos map[string]string
}

type vaultBlock struct {
	Address       *string `hcl:"address,optional"`
	Namespace     *string `hcl:"namespace,optional"`
	CACert        *string `hcl:"ca_cert,optional"`
	CAPath        *string `hcl:"ca_path,optional"`
	ClientCert    *string `hcl:"client_cert,optional"`
	ClientKey     *string `hcl:"client_key,optional"`
	TLSServerName *string `hcl:"tls_server_name,optional"`
	TLSSkipVerify *bool   `hcl:"tls_skip_verify,optional"`
}

// authBlock is `auth "<method>" { ... }`. Its body is decoded once the method is known, so that
// an unsupported method is reported as such rather than as a list of unexpected attributes.
type authBlock struct {
	Method      string    `hcl:"method,label"`
	MethodRange hcl.Range `hcl:"method,label_range"`
	Body        hcl.Body  `hcl:",remain"`
}

// awsAuthBody is the body of `auth "aws"`, for both types; validation checks that each
// type-specific attribute is used with its type.
type awsAuthBody struct {
	Type        *string `hcl:"type,optional"`
	Role        *string `hcl:"role,optional"`
	Mount       *string `hcl:"mount,optional"`
	HeaderValue *string `hcl:"header_value,optional"`
	STSRegion   *string `hcl:"sts_region,optional"`
	STSEndpoint *string `hcl:"sts_endpoint,optional"`
	IMDSv2Only  *bool   `hcl:"imds_v2_only,optional"`
	Signature   *string `hcl:"signature,optional"`
	NonceFile   *string `hcl:"nonce_file,optional"`
}

// sinkBlock is `sink "<type>" { ... }`, decoded in two steps like authBlock.
type sinkBlock struct {
	Type      string    `hcl:"type,label"`
	TypeRange hcl.Range `hcl:"type,label_range"`
	Body      hcl.Body  `hcl:",remain"`
}

type fileSinkBody struct {
	Path        string    `hcl:"path"`
	PathRange   hcl.Range `hcl:"path,attr_range"`
	Mode        *string   `hcl:"mode,optional"`
	ModeRange   hcl.Range `hcl:"mode,attr_range"`
	Owner       string    `hcl:"owner,optional"`
	Group       string    `hcl:"group,optional"`
	Format      *string   `hcl:"format,optional"`
	FormatRange hcl.Range `hcl:"format,attr_range"`
}

// lifecycleBlock tunes the daemon: retry backoff and what happens on exit.
type lifecycleBlock struct {
	MinBackoff        *string `hcl:"min_backoff,optional"`
	MaxBackoff        *string `hcl:"max_backoff,optional"`
	RevokeOnExit      *bool   `hcl:"revoke_on_exit,optional"`
	RemoveSinksOnExit *bool   `hcl:"remove_sinks_on_exit,optional"`
}

type logBlock struct {
	Level  *string `hcl:"level,optional"`
	Format *string `hcl:"format,optional"`
}

// parseFile parses and decodes a config file. The error lists every syntax and schema problem,
// each starting with file:line,column: unknown attributes and blocks, duplicate blocks, values
// of the wrong type.
func parseFile(filename string, src []byte) (*file, error) {
	hf, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, errors.Join(diagErrors(diags)...)
	}
	var f file
	if diags := gohcl.DecodeBody(hf.Body, nil, &f); diags.HasErrors() {
		return nil, errors.Join(diagErrors(diags)...)
	}
	f.pos = attributePositions(hf.Body)
	return &f, nil
}

// diagErrors turns HCL's error diagnostics into errors, in the order of the file. Each reads
// "file:line,column: summary; detail".
func diagErrors(diags hcl.Diagnostics) []error {
	var errDiags []*hcl.Diagnostic
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errDiags = append(errDiags, d)
		}
	}
	// Those without a subject go last.
	offset := func(d *hcl.Diagnostic) int {
		if d.Subject == nil {
			return math.MaxInt
		}
		return d.Subject.Start.Byte
	}
	slices.SortStableFunc(errDiags, func(a, b *hcl.Diagnostic) int { return cmp.Compare(offset(a), offset(b)) })

	errs := make([]error, 0, len(errDiags))
	for _, d := range errDiags {
		errs = append(errs, errors.New(d.Error()))
	}
	return errs
}

// attributePositions maps each attribute of the vault, auth and log blocks to "file:line", so
// that validation, which runs after the file, environment and flags are merged, can point at
// the line to change. parseFile has already rejected duplicate blocks.
func attributePositions(body hcl.Body) map[string]string {
	pos := map[string]string{}
	syntax, ok := body.(*hclsyntax.Body)
	if !ok {
		return pos
	}
	for _, b := range syntax.Blocks {
		if b.Type == "sink" {
			continue
		}
		for name, a := range b.Body.Attributes {
			pos[b.Type+"."+name] = line(a.NameRange)
		}
	}
	return pos
}

// line formats r as "file:line".
func line(r hcl.Range) string {
	return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line)
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
		l.errs = append(l.errs, fmt.Errorf("%s: auth method %q is not supported: use auth \"aws\"", line(a.MethodRange), a.Method))
		return
	}
	var b awsAuthBody
	if diags := gohcl.DecodeBody(a.Body, nil, &b); diags.HasErrors() {
		l.errs = append(l.errs, diagErrors(diags)...)
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
}

func (l *loader) applySink(s sinkBlock) {
	switch s.Type {
	case "file":
	case "socket":
		l.applySocketSink(s)
		return
	default:
		l.errs = append(l.errs, fmt.Errorf("%s: sink type %q is not supported: use sink \"file\" or sink \"socket\"", line(s.TypeRange), s.Type))
		return
	}
	var b fileSinkBody
	if diags := gohcl.DecodeBody(s.Body, nil, &b); diags.HasErrors() {
		l.errs = append(l.errs, diagErrors(diags)...)
		return
	}

	sink := FileSink{Path: b.Path, Mode: 0o600, Owner: b.Owner, Group: b.Group, Format: FormatToken}
	if !filepath.IsAbs(b.Path) {
		l.errs = append(l.errs, fmt.Errorf("%s: sink path %q is not absolute: use a full path such as \"/run/xauth-agent/token\"", line(b.PathRange), b.Path))
	}
	sink.Path = filepath.Clean(b.Path)
	if b.Mode != nil {
		mode, err := parseMode(*b.Mode)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s: sink %q: mode %q %w", line(b.ModeRange), sink.Path, *b.Mode, err))
		}
		sink.Mode = mode
	}
	if b.Format != nil {
		sink.Format = *b.Format
		if err := checkSinkFormat(sink.Format); err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s: sink %q: format %w", line(b.FormatRange), sink.Path, err))
		}
	}
	l.cfg.Sinks = append(l.cfg.Sinks, sink)
	l.sinkFrom = append(l.sinkFrom, line(b.PathRange))
}

// socketSinkBody is the body of `sink "socket"`: the local API.
type socketSinkBody struct {
	Path      string    `hcl:"path"`
	PathRange hcl.Range `hcl:"path,attr_range"`
	Mode      *string   `hcl:"mode,optional"`
	ModeRange hcl.Range `hcl:"mode,attr_range"`
	Group     string    `hcl:"group,optional"`
	AllowUIDs []int     `hcl:"allow_uids,optional"`
	AllowGIDs []int     `hcl:"allow_gids,optional"`
}

func (l *loader) applySocketSink(s sinkBlock) {
	var b socketSinkBody
	if diags := gohcl.DecodeBody(s.Body, nil, &b); diags.HasErrors() {
		l.errs = append(l.errs, diagErrors(diags)...)
		return
	}
	if l.cfg.Socket != nil {
		l.errs = append(l.errs, fmt.Errorf("%s: a second sink \"socket\": the agent serves one local API socket", line(s.TypeRange)))
		return
	}
	sock := &SocketSink{Path: filepath.Clean(b.Path), Mode: 0o660, Group: b.Group, AllowUIDs: b.AllowUIDs, AllowGIDs: b.AllowGIDs}
	if !filepath.IsAbs(b.Path) {
		l.errs = append(l.errs, fmt.Errorf("%s: socket path %q is not absolute: use a full path such as \"/run/xauth-agent/agent.sock\"", line(b.PathRange), b.Path))
	}
	if b.Mode != nil {
		mode, err := parseMode(*b.Mode)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s: sink \"socket\" %q: mode %q %w", line(b.ModeRange), sock.Path, *b.Mode, err))
		}
		sock.Mode = mode
	}
	if sock.Mode&0o002 != 0 {
		l.warn("sink \"socket\" %q (%s) has mode %04o: any local user can connect; access still needs allow_uids/allow_gids", sock.Path, line(b.PathRange), sock.Mode)
	}
	for _, id := range append(append([]int(nil), b.AllowUIDs...), b.AllowGIDs...) {
		if id < 0 || id >= 1<<32-1 {
			l.errs = append(l.errs, fmt.Errorf("%s: sink \"socket\" %q: id %d in allow_uids/allow_gids is out of range", line(b.PathRange), sock.Path, id))
		}
	}
	l.cfg.Socket = sock
}

// parseMode parses a sink's permission bits, written in octal as in chmod.
func parseMode(s string) (os.FileMode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 {
		return 0, errors.New(`is not an octal permission from "0000" to "0777": write it as in chmod, such as "0600"`)
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
