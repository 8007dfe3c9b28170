package config

// Vault Agent configs. A config file with an auto_auth block is read as a Vault Agent config:
// the parts that describe what xauth-agent does (the vault stanza, the aws auto-auth method,
// file sinks, exit_after_auth) are translated into the same settings a native file sets, with
// the original file:line kept for messages. Stanzas that do something xauth-agent does not do
// (templates, listeners, the cache...) are ignored with a warning; settings that would change
// what the agent does if ignored (another method, wrapping, encrypted sinks, static AWS keys)
// are errors that say what to do instead.

import (
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// maxDuration bounds the backoff durations a Vault Agent config gives in seconds.
const maxDuration = 24 * time.Hour

// vaultAgentSinkMode is Vault Agent's default file sink mode.
const vaultAgentSinkMode = 0o640

// vaultAgentIgnored are the Vault Agent top-level stanzas and attributes xauth-agent has no use
// for, with the reason given in the warning.
var vaultAgentIgnored = map[string]string{
	"template":                         "xauth-agent renders no templates",
	"template_config":                  "xauth-agent renders no templates",
	"env_template":                     "xauth-agent runs no child process",
	"exec":                             "xauth-agent runs no child process",
	"listener":                         "xauth-agent has no API proxy; sink \"socket\" serves the token to local callers",
	"cache":                            "xauth-agent has no API proxy cache",
	"api_proxy":                        "xauth-agent has no API proxy",
	"telemetry":                        "xauth-agent exposes no telemetry",
	"pid_file":                         "systemd tracks the process; no pid file is written",
	"log_file":                         "xauth-agent logs to stderr (the journal under systemd)",
	"log_rotate_bytes":                 "xauth-agent logs to stderr (the journal under systemd)",
	"log_rotate_duration":              "xauth-agent logs to stderr (the journal under systemd)",
	"log_rotate_max_files":             "xauth-agent logs to stderr (the journal under systemd)",
	"disable_mlock":                    "xauth-agent does not lock memory",
	"disable_idle_connections":         "xauth-agent keeps its own connection to Vault",
	"disable_keep_alives":              "xauth-agent keeps its own connection to Vault",
	"plugin_directory":                 "xauth-agent loads no plugins",
	"ui":                               "xauth-agent has no UI",
	"retry":                            "xauth-agent's own backoff (lifecycle.min_backoff/max_backoff) retries",
	"credential_poll_interval":         "xauth-agent asks the SDK for fresh AWS credentials at each login",
	"enable_reauth_on_new_credentials": "xauth-agent logs in again when the token can no longer be renewed, not when AWS credentials rotate",
}

// isVaultAgent says whether src is a Vault Agent config: one with an auto_auth block. A file
// that does not parse is left to the native parser to report.
func isVaultAgent(filename string, src []byte) bool {
	hf, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return false
	}
	body, ok := hf.Body.(*hclsyntax.Body)
	if !ok {
		return false
	}
	for _, b := range body.Blocks {
		if b.Type == "auto_auth" {
			return true
		}
	}
	return false
}

// vaKey is one setting of a Vault Agent stanza: an attribute, or a key of a `config = {...}`
// object.
type vaKey struct {
	name string
	expr hclsyntax.Expression
	at   string // file:line
}

// applyVaultAgent translates a Vault Agent config into the settings it stands for.
func (l *loader) applyVaultAgent(filename string, src []byte) {
	hf, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		l.errs = append(l.errs, diagErrors(diags)...)
		return
	}
	body := hf.Body.(*hclsyntax.Body)
	l.vaSrc = src
	l.warn("%s is a Vault Agent config (it has an auto_auth block): it is translated to xauth-agent settings; \"xauth-agent convert %s\" prints the native equivalent", filename, filename)

	for _, name := range sortedAttrs(body) {
		a := body.Attributes[name]
		k := vaKey{name: name, expr: a.Expr, at: line(a.NameRange)}
		switch name {
		case "exit_after_auth":
			if v, ok := l.vaBool(k); ok {
				l.cfg.ExitAfterAuth = v
				l.from["exit_after_auth"] = k.at
			}
		case "log_level":
			if v, ok := l.vaString(k); ok {
				if v == "trace" {
					l.warn("log_level \"trace\" (%s) is logged as \"debug\"", k.at)
					v = "debug"
				}
				l.cfg.Log.Level = v
				l.from["log.level"] = k.at
			}
		case "log_format":
			if v, ok := l.vaString(k); ok {
				if v == "standard" {
					v = "console"
				}
				l.cfg.Log.Format = v
				l.from["log.format"] = k.at
			}
		default:
			l.vaIgnore(k.name, k.at, "")
		}
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "vault":
			l.applyVaultAgentVault(b)
		case "auto_auth":
			l.applyVaultAgentAutoAuth(b)
		default:
			l.vaIgnore(b.Type, line(b.TypeRange), "stanza ")
		}
	}
}

// vaIgnore warns that a known Vault Agent setting is ignored, or reports an unknown one.
func (l *loader) vaIgnore(name, at, kind string) {
	if why, ok := vaultAgentIgnored[name]; ok {
		l.warn("Vault Agent %s%q (%s) is ignored: %s", kind, name, at, why)
		return
	}
	l.fail(fmt.Errorf("%s: Vault Agent %s%q is not understood by xauth-agent: remove it, or check its spelling", at, kind, name))
}

func (l *loader) applyVaultAgentVault(b *hclsyntax.Block) {
	v := &l.cfg.Vault
	strs := map[string]*string{
		"address": &v.Address, "namespace": &v.Namespace, "ca_cert": &v.CACert, "ca_path": &v.CAPath,
		"client_cert": &v.ClientCert, "client_key": &v.ClientKey, "tls_server_name": &v.TLSServerName,
	}
	for _, k := range blockKeys(b) {
		if dst, ok := strs[k.name]; ok {
			if s, ok := l.vaString(k); ok {
				*dst = s
				l.from["vault."+k.name] = k.at
			}
			continue
		}
		if k.name == "tls_skip_verify" {
			if s, ok := l.vaBool(k); ok {
				v.TLSSkipVerify = s
				l.from["vault.tls_skip_verify"] = k.at
			}
			continue
		}
		l.vaIgnore("vault."+k.name, k.at, "")
	}
	for _, sb := range b.Body.Blocks {
		l.vaIgnore(sb.Type, line(sb.TypeRange), "stanza vault.")
	}
}

func (l *loader) applyVaultAgentAutoAuth(b *hclsyntax.Block) {
	for _, k := range blockKeys(b) {
		l.vaIgnore(k.name, k.at, "auto_auth.")
	}
	methods := 0
	for _, sb := range b.Body.Blocks {
		switch sb.Type {
		case "method":
			methods++
			if methods > 1 {
				l.fail(fmt.Errorf("%s: a second auto_auth method: xauth-agent logs in with one aws method; remove the others", line(sb.TypeRange)))
				continue
			}
			l.applyVaultAgentMethod(sb)
		case "sink":
			l.applyVaultAgentSink(sb)
		default:
			l.vaIgnore(sb.Type, line(sb.TypeRange), "stanza auto_auth.")
		}
	}
	if methods == 0 {
		l.fail(fmt.Errorf("%s: auto_auth has no method: add method \"aws\" { ... }", line(b.TypeRange)))
	}
}

// blockTypeAndKeys returns a labelled block's type (`method "aws"`) or its type attribute
// (`method { type = "aws" }`), and its other attributes.
func (l *loader) blockTypeAndKeys(b *hclsyntax.Block) (string, string, []vaKey) {
	var typ, at string
	if len(b.Labels) > 0 {
		typ, at = b.Labels[0], line(b.LabelRanges[0])
	}
	var keys []vaKey
	for _, k := range blockKeys(b) {
		if k.name == "type" {
			if s, ok := l.vaString(k); ok {
				typ, at = s, k.at
			}
			continue
		}
		keys = append(keys, k)
	}
	if at == "" {
		at = line(b.TypeRange)
	}
	return typ, at, keys
}

func (l *loader) applyVaultAgentMethod(b *hclsyntax.Block) {
	typ, at, keys := l.blockTypeAndKeys(b)
	if typ != "aws" {
		l.fail(fmt.Errorf("%s: auto_auth method %q is not supported: xauth-agent logs in with the aws method only; keep Vault Agent for this one", at, typ))
		return
	}
	a := &l.cfg.Auth
	var config []vaKey
	for _, k := range keys {
		switch k.name {
		case "mount_path":
			if s, ok := l.vaString(k); ok {
				mount, found := strings.CutPrefix(strings.Trim(s, "/"), "auth/")
				if !found {
					l.fail(fmt.Errorf("%s: mount_path %q does not start with \"auth/\": give the path of the aws auth method, such as \"auth/aws\"", k.at, s))
					continue
				}
				a.Mount = mount
				l.from["auth.mount"] = k.at
			}
		case "namespace":
			if s, ok := l.vaString(k); ok {
				l.vaNamespace(s, k.at)
			}
		case "min_backoff", "max_backoff":
			l.vaDuration(k)
		case "config":
			config = objectKeys(k)
			if config == nil {
				l.fail(fmt.Errorf("%s: method config is not an object: write config = { type = \"iam\", role = \"...\" }", k.at))
			}
		case "wrap_ttl":
			l.fail(fmt.Errorf("%s: method wrap_ttl: xauth-agent writes the token itself, not a response-wrapped token; remove wrap_ttl, or keep Vault Agent if the reader unwraps", k.at))
		case "exit_on_err":
			l.fail(fmt.Errorf("%s: method exit_on_err: xauth-agent retries network errors and exits on a refused login; remove exit_on_err, or run xauth-agent --once for a single attempt", k.at))
		default:
			l.vaIgnore("method."+k.name, k.at, "")
		}
	}
	for _, sb := range b.Body.Blocks {
		if sb.Type == "config" {
			config = blockKeys(sb)
			continue
		}
		l.vaIgnore(sb.Type, line(sb.TypeRange), "stanza method.")
	}
	l.applyVaultAgentAWSConfig(config)
}

// vaNamespace applies a method-level namespace, which Vault Agent uses for the login.
func (l *loader) vaNamespace(ns, at string) {
	v := &l.cfg.Vault
	if _, set := l.from["vault.namespace"]; set && v.Namespace != ns {
		l.fail(fmt.Errorf("%s: method namespace %q differs from vault.namespace %q%s: xauth-agent logs in and renews in one namespace; keep one", at, ns, v.Namespace, l.origin("vault.namespace")))
		return
	}
	v.Namespace = ns
	l.from["vault.namespace"] = at
}

// applyVaultAgentAWSConfig translates the aws method's config map.
func (l *loader) applyVaultAgentAWSConfig(keys []vaKey) {
	a := &l.cfg.Auth
	var region, nonceAt string
	var regionSet bool
	for _, k := range keys {
		switch k.name {
		case "type", "role", "header_value", "region", "nonce":
			s, ok := l.vaString(k)
			if !ok {
				continue
			}
			switch k.name {
			case "type":
				a.Type = s
				l.from["auth.type"] = k.at
			case "role":
				a.Role = s
				l.from["auth.role"] = k.at
			case "header_value":
				a.HeaderValue = s
				l.from["auth.header_value"] = k.at
			case "region":
				region, regionSet = s, true
				l.from["auth.sts_region"] = k.at
			case "nonce":
				nonceAt = k.at
			}
		case "access_key", "secret_key", "session_token":
			l.fail(fmt.Errorf("%s: static AWS credentials (%s) in the config file: xauth-agent takes AWS credentials from the SDK chain only; "+
				"prefer the instance profile, or pass them as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN in the unit's environment, and remove them from the file",
				k.at, k.name))
		default:
			l.vaIgnore(k.name, k.at, "aws method config key ")
		}
	}
	if a.Role == "" {
		l.fail(fmt.Errorf("%s: the aws method config has no role: Vault Agent requires one; set role = \"...\"", l.cfg.Source))
	}
	switch a.Type {
	case "iam":
		if !regionSet {
			region = "us-east-1"
		}
		if nonceAt != "" {
			l.fail(fmt.Errorf("%s: nonce applies only to type \"ec2\": remove it", nonceAt))
		}
		// Vault Agent signs for region and sends the request to that region's STS endpoint,
		// the global one for us-east-1.
		a.STSRegion = region
		l.from["auth.sts_endpoint"] = l.from["auth.sts_region"]
		switch {
		case region == "us-east-1":
			a.STSEndpoint = "https://sts.amazonaws.com"
		case strings.HasPrefix(region, "cn-"):
			a.STSEndpoint = "https://sts." + region + ".amazonaws.com.cn"
		default:
			a.STSEndpoint = "https://sts." + region + ".amazonaws.com"
		}
	case "ec2":
		if regionSet {
			l.warn("region (%s) is not used by the ec2 type and is ignored", l.from["auth.sts_region"])
			delete(l.from, "auth.sts_region")
		}
		// Vault Agent sends the identity document with its signature.
		a.Signature = SignatureIdentity
		if nonceAt != "" {
			l.warn("nonce (%s): xauth-agent keeps the ec2 client nonce in the file %s, not in the config; before the first start, write the same nonce into that file (mode 0600, no newline), "+
				"or Vault refuses the login for a nonce mismatch (exit 7); then remove nonce from the config", nonceAt, DefaultNonceFile)
		}
	}
}

func (l *loader) applyVaultAgentSink(b *hclsyntax.Block) {
	typ, at, keys := l.blockTypeAndKeys(b)
	if typ != "file" {
		l.fail(fmt.Errorf("%s: auto_auth sink %q is not supported: Vault Agent writes only file sinks; use sink \"file\"", at, typ))
		return
	}
	var config []vaKey
	for _, k := range keys {
		switch k.name {
		case "config":
			config = objectKeys(k)
			if config == nil {
				l.fail(fmt.Errorf("%s: sink config is not an object: write config = { path = \"...\" }", k.at))
			}
		case "wrap_ttl":
			l.fail(fmt.Errorf("%s: sink wrap_ttl: xauth-agent writes the token itself, not a response-wrapped token; remove wrap_ttl, or keep Vault Agent if the reader unwraps", k.at))
		case "dh_type", "dh_path", "derive_key", "aad", "aad_env_var":
			l.fail(fmt.Errorf("%s: sink %s: xauth-agent does not encrypt sink files; remove the dh_* and aad settings and protect the file with mode, owner and group, or keep Vault Agent", k.at, k.name))
		default:
			l.vaIgnore("sink."+k.name, k.at, "")
		}
	}
	for _, sb := range b.Body.Blocks {
		if sb.Type == "config" {
			config = blockKeys(sb)
			continue
		}
		l.vaIgnore(sb.Type, line(sb.TypeRange), "stanza sink.")
	}

	sink := FileSink{Mode: vaultAgentSinkMode, Format: FormatToken}
	var pathSet, modeSet bool
	for _, k := range config {
		switch k.name {
		case "path":
			if s, ok := l.vaString(k); ok {
				sink.Path, pathSet = s, true
			}
		case "mode":
			if m, ok := l.vaMode(k); ok {
				sink.Mode, modeSet = m, true
			}
		case "owner", "group":
			s, ok := l.vaString(k)
			if !ok {
				continue
			}
			if _, err := strconv.ParseUint(s, 10, 32); err != nil {
				l.fail(fmt.Errorf("%s: sink %s %q is not a numeric id", k.at, k.name, s))
			}
			if k.name == "owner" {
				sink.Owner = s
			} else {
				sink.Group = s
			}
		default:
			l.vaIgnore(k.name, k.at, "file sink config key ")
		}
	}
	if !pathSet {
		l.fail(fmt.Errorf("%s: file sink has no path: set config = { path = \"...\" }", at))
		return
	}
	if !strings.HasPrefix(sink.Path, "/") {
		l.fail(fmt.Errorf("%s: sink path %q is not absolute: use a full path such as \"/run/xauth-agent/token\"", at, sink.Path))
	}
	if !modeSet {
		l.warn("sink %q (%s) has no mode: Vault Agent's default %04o is kept", sink.Path, at, vaultAgentSinkMode)
	}
	l.cfg.Sinks = append(l.cfg.Sinks, sink)
	l.sinkFrom = append(l.sinkFrom, at)
}

// vaMode reads a file sink mode as Vault Agent does: an integer whose literal is octal with a
// leading 0 and decimal without (so 640 is 0o1200), or a string read the same way. Only the
// permission bits reach the file.
func (l *loader) vaMode(k vaKey) (os.FileMode, bool) {
	var text string
	if lit, ok := k.expr.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.Number {
		text = string(lit.SrcRange.SliceBytes(l.vaSrc))
	} else if s, ok := l.vaString(k); ok {
		text = s
	} else {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(text), 0, 64)
	if err != nil || n < 0 || n > 0o7777 {
		l.fail(fmt.Errorf("%s: sink mode %s is not a file mode: write it in octal with a leading zero, such as 0600", k.at, text))
		return 0, false
	}
	mode := os.FileMode(n) & os.ModePerm
	if int64(mode) != n || (!strings.HasPrefix(text, "0") && n > 7) {
		l.warn("sink mode %s (%s) is read as Vault Agent reads it: %d decimal, so the file gets permissions %04o; to mean octal, write a leading zero (such as 0640)", text, k.at, n, uint32(mode))
	}
	return mode, true
}

func (l *loader) vaDuration(k vaKey) {
	key := "lifecycle." + k.name
	dst := &l.cfg.Lifecycle.MinBackoff
	if k.name == "max_backoff" {
		dst = &l.cfg.Lifecycle.MaxBackoff
	}
	v, diags := k.expr.Value(nil)
	var d time.Duration
	var err error
	switch {
	case diags.HasErrors() || v.IsNull() || !v.IsKnown():
		err = fmt.Errorf("not a constant")
	case v.Type() == cty.Number:
		secs, acc := v.AsBigFloat().Int64()
		if acc != big.Exact || secs > int64(maxDuration/time.Second) {
			err = fmt.Errorf("not a whole number of seconds")
		}
		d = time.Duration(secs) * time.Second
	case v.Type() == cty.String:
		s := v.AsString()
		if secs, perr := strconv.ParseInt(s, 10, 64); perr == nil {
			if secs > int64(maxDuration/time.Second) {
				err = fmt.Errorf("too long")
			}
			d = time.Duration(secs) * time.Second
		} else {
			d, err = time.ParseDuration(s)
		}
	default:
		err = fmt.Errorf("not a duration")
	}
	if err != nil || d <= 0 {
		l.fail(fmt.Errorf("%s: method %s is not a positive duration: write it like \"1s\" or \"5m\"", k.at, k.name))
		return
	}
	*dst = d
	l.from[key] = k.at
}

func (l *loader) vaString(k vaKey) (string, bool) {
	v, diags := k.expr.Value(nil)
	if !diags.HasErrors() && v.IsKnown() && !v.IsNull() && v.Type() == cty.String {
		return v.AsString(), true
	}
	l.fail(fmt.Errorf("%s: %s is not a string constant: write it in quotes", k.at, k.name))
	return "", false
}

func (l *loader) vaBool(k vaKey) (bool, bool) {
	v, diags := k.expr.Value(nil)
	if !diags.HasErrors() && v.IsKnown() && !v.IsNull() {
		switch v.Type() {
		case cty.Bool:
			return v.True(), true
		case cty.String:
			if b, err := strconv.ParseBool(v.AsString()); err == nil {
				return b, true
			}
		}
	}
	l.fail(fmt.Errorf("%s: %s is not true or false", k.at, k.name))
	return false, false
}

// sortedAttrs returns the names of body's attributes in the order of the file.
func sortedAttrs(body *hclsyntax.Body) []string {
	names := make([]string, 0, len(body.Attributes))
	for n := range body.Attributes {
		names = append(names, n)
	}
	start := func(n string) int { return body.Attributes[n].SrcRange.Start.Byte }
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && start(names[j]) < start(names[j-1]); j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}

// blockKeys returns a block's attributes in the order of the file.
func blockKeys(b *hclsyntax.Block) []vaKey {
	var keys []vaKey
	for _, n := range sortedAttrs(b.Body) {
		a := b.Body.Attributes[n]
		keys = append(keys, vaKey{name: n, expr: a.Expr, at: line(a.NameRange)})
	}
	return keys
}

// objectKeys returns the items of a `config = { ... }` object, or nil if k is not one.
func objectKeys(k vaKey) []vaKey {
	obj, ok := k.expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil
	}
	keys := []vaKey{}
	for _, item := range obj.Items {
		name := hcl.ExprAsKeyword(item.KeyExpr)
		if name == "" {
			if v, diags := item.KeyExpr.Value(nil); !diags.HasErrors() && v.Type() == cty.String {
				name = v.AsString()
			}
		}
		keys = append(keys, vaKey{name: name, expr: item.ValueExpr, at: line(item.KeyExpr.Range())})
	}
	return keys
}

// NativeHCL renders c as a native config file that loads to the same settings (apart from
// Source, Warnings and ExitAfterAuth, which has no native setting: use --once). Defaults are
// written out too, so the file shows every choice.
func NativeHCL(c *Config) []byte {
	f := hclwrite.NewEmptyFile()
	root := f.Body()
	str := func(b *hclwrite.Body, name, v string, always bool) {
		if v != "" || always {
			b.SetAttributeValue(name, cty.StringVal(v))
		}
	}

	v := root.AppendNewBlock("vault", nil).Body()
	str(v, "address", c.Vault.Address, true)
	str(v, "namespace", c.Vault.Namespace, false)
	str(v, "ca_cert", c.Vault.CACert, false)
	str(v, "ca_path", c.Vault.CAPath, false)
	str(v, "client_cert", c.Vault.ClientCert, false)
	str(v, "client_key", c.Vault.ClientKey, false)
	str(v, "tls_server_name", c.Vault.TLSServerName, false)
	if c.Vault.TLSSkipVerify {
		v.SetAttributeValue("tls_skip_verify", cty.True)
	}
	root.AppendNewline()

	a := root.AppendNewBlock("auth", []string{c.Auth.Method}).Body()
	str(a, "type", c.Auth.Type, true)
	str(a, "role", c.Auth.Role, false)
	str(a, "mount", c.Auth.Mount, true)
	if c.Auth.Type == "iam" {
		str(a, "header_value", c.Auth.HeaderValue, false)
		str(a, "sts_region", c.Auth.STSRegion, true)
		str(a, "sts_endpoint", c.Auth.STSEndpoint, true)
	} else {
		str(a, "signature", c.Auth.Signature, true)
		str(a, "nonce_file", c.Auth.NonceFile, true)
	}
	if c.Auth.IMDSv2Only {
		a.SetAttributeValue("imds_v2_only", cty.True)
	}

	for _, s := range c.Sinks {
		root.AppendNewline()
		b := root.AppendNewBlock("sink", []string{"file"}).Body()
		str(b, "path", s.Path, true)
		str(b, "mode", fmt.Sprintf("%04o", uint32(s.Mode.Perm())), true)
		str(b, "owner", s.Owner, false)
		str(b, "group", s.Group, false)
		str(b, "format", s.Format, true)
	}
	if s := c.Socket; s != nil {
		root.AppendNewline()
		b := root.AppendNewBlock("sink", []string{"socket"}).Body()
		str(b, "path", s.Path, true)
		str(b, "mode", fmt.Sprintf("%04o", uint32(s.Mode.Perm())), true)
		str(b, "group", s.Group, false)
		ids := func(name string, v []int) {
			if len(v) > 0 {
				vals := make([]cty.Value, len(v))
				for i, id := range v {
					vals[i] = cty.NumberIntVal(int64(id))
				}
				b.SetAttributeValue(name, cty.ListVal(vals))
			}
		}
		ids("allow_uids", s.AllowUIDs)
		ids("allow_gids", s.AllowGIDs)
	}

	root.AppendNewline()
	g := root.AppendNewBlock("log", nil).Body()
	str(g, "level", c.Log.Level, true)
	str(g, "format", c.Log.Format, true)

	root.AppendNewline()
	lc := root.AppendNewBlock("lifecycle", nil).Body()
	str(lc, "min_backoff", c.Lifecycle.MinBackoff.String(), true)
	str(lc, "max_backoff", c.Lifecycle.MaxBackoff.String(), true)
	lc.SetAttributeValue("revoke_on_exit", cty.BoolVal(c.Lifecycle.RevokeOnExit))
	lc.SetAttributeValue("remove_sinks_on_exit", cty.BoolVal(c.Lifecycle.RemoveSinksOnExit))
	return f.Bytes()
}
