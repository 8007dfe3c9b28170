package config

// Vault Agent configs. A config file with an auto_auth block is read as a Vault Agent config:
// the parts that describe what xauth-agent does (the vault stanza, the aws auto-auth method,
// file sinks, exit_after_auth) are translated into the same settings a native file sets, with
// the original file:line kept for messages. Stanzas that do something xauth-agent does not do
// (templates, listeners, the cache...) are ignored with a warning; settings that would change
// what the agent does if ignored (another method, wrapping, encrypted sinks, static AWS keys)
// are errors that say what to do instead.
//
// The file is read with HCL 1, as Vault reads it: a stanza may be written as a block
// (vault { ... }) or assigned (vault = { ... }), a number with a leading 0 is octal (mode = 0640,
// min_backoff = 010 is 8 seconds), and "${...}" in a string is text, not an interpolation. JSON
// Vault Agent configs are not accepted.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/hcl/token"
	"github.com/xauth-agent/xauth-agent/internal/awsname"
	"github.com/xauth-agent/xauth-agent/internal/hclfile"
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

// vaultAgentAliases are the values of Vault Agent keys that xauth-agent reads as another value
// ("key value" -> value): it logs no trace level, and its console format is Vault's standard.
var vaultAgentAliases = map[string]string{"log_level trace": "debug", "log_format standard": "console"}

// isVaultAgent says whether a config file is a Vault Agent config: one with an auto_auth
// stanza.
func isVaultAgent(items []hclfile.Item) bool {
	for _, it := range items {
		if it.Name == "auto_auth" && it.IsObject() {
			return true
		}
	}
	return false
}

// applyVaultAgent translates a Vault Agent config into the settings it stands for. As Vault
// does, it reads a stanza written as a block (vault { ... }) or assigned (vault = { ... }) alike.
func (l *loader) applyVaultAgent(filename string, items []hclfile.Item) {
	l.warn("%s is a Vault Agent config (it has an auto_auth block): it is translated to xauth-agent settings; \"xauth-agent convert %s\" prints the native equivalent", filename, filename)

	// One vault and one auto_auth stanza, as Vault Agent itself requires; a second one would
	// otherwise override the first without a word.
	first := map[string]int{} // stanza name -> index in items
	for i, it := range items {
		if it.Name != "vault" && it.Name != "auto_auth" {
			continue
		}
		if j, dup := first[it.Name]; dup {
			firstAt := items[j].At
			l.fail(fmt.Errorf("%s: a second %s stanza (the first is on line %s): Vault Agent allows one; merge them",
				it.At, it.Name, firstAt[strings.LastIndexByte(firstAt, ':')+1:]))
			continue
		}
		first[it.Name] = i
	}

	// The vault stanza first, so that a method's namespace is checked against vault.namespace
	// wherever the two are in the file.
	if i, ok := first["vault"]; ok {
		l.applyVaultAgentVault(items[i])
	}
	for i, k := range items {
		switch k.Name {
		case "vault":
		case "auto_auth":
			if first["auto_auth"] == i {
				l.applyVaultAgentAutoAuth(k)
			}
		case "exit_after_auth":
			if v, ok := l.vaBool(k); ok {
				l.cfg.ExitAfterAuth = v
				l.from["exit_after_auth"] = k.At
			}
		case "log_level", "log_format":
			l.vaSet(k.Name, k)
		default:
			l.vaIgnoreIn("", k)
		}
	}
}

// vaIgnoreIn is vaIgnore for k, a stanza or an attribute inside the stanza in ("" for the
// top level).
func (l *loader) vaIgnoreIn(in string, k hclfile.Item) {
	if in != "" {
		in += "."
	}
	if k.IsObject() {
		l.vaIgnore(k.Name, k.At, "stanza "+in)
	} else {
		l.vaIgnore(in+k.Name, k.At, "")
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

func (l *loader) applyVaultAgentVault(b hclfile.Item) {
	body, ok := b.Object()
	if !ok {
		l.fail(fmt.Errorf("%s: vault is not a stanza: write vault { address = \"...\" }", b.At))
		return
	}
	for _, k := range body {
		if !l.vaSet("vault."+k.Name, k) {
			l.vaIgnoreIn("vault", k)
		}
	}
}

func (l *loader) applyVaultAgentAutoAuth(b hclfile.Item) {
	body, _ := b.Object() // isVaultAgent checked that it is one
	methods := 0
	for _, k := range body {
		switch {
		case !k.IsObject():
			l.vaIgnore(k.Name, k.At, "auto_auth.")
		case k.Name == "method":
			methods++
			if methods > 1 {
				l.fail(fmt.Errorf("%s: a second auto_auth method: xauth-agent logs in with one aws method; remove the others", k.At))
				continue
			}
			l.applyVaultAgentMethod(k)
		case k.Name == "sink":
			l.applyVaultAgentSink(k)
		default:
			l.vaIgnore(k.Name, k.At, "stanza auto_auth.")
		}
	}
	if methods == 0 {
		l.fail(fmt.Errorf("%s: auto_auth has no method: add method \"aws\" { ... }", b.At))
	}
}

// blockTypeAndKeys returns a labelled stanza's type (`method "aws"`) or its type attribute
// (`method { type = "aws" }`), where it is set, and the stanza's other settings.
func (l *loader) blockTypeAndKeys(b hclfile.Item) (string, string, []hclfile.Item) {
	var typ, at string
	if len(b.Labels) > 0 {
		typ, at = b.Labels[0].Text, b.Labels[0].At
	}
	body, _ := b.Object() // the callers' b is a stanza
	var keys []hclfile.Item
	for _, k := range body {
		if k.Name == "type" {
			if s, ok := l.vaString(k); ok {
				typ, at = s, k.At
			}
			continue
		}
		keys = append(keys, k)
	}
	if at == "" {
		at = b.At
	}
	return typ, at, keys
}

func (l *loader) applyVaultAgentMethod(b hclfile.Item) {
	typ, at, keys := l.blockTypeAndKeys(b)
	if typ != "aws" {
		l.fail(fmt.Errorf("%s: auto_auth method %q is not supported: xauth-agent logs in with the aws method only; keep Vault Agent for this one", at, typ))
		return
	}
	a := &l.cfg.Auth
	var config []hclfile.Item
	for _, k := range keys {
		switch k.Name {
		case "mount_path":
			if s, ok := l.vaString(k); ok {
				mount, found := strings.CutPrefix(strings.Trim(s, "/"), "auth/")
				if !found {
					l.fail(fmt.Errorf("%s: mount_path %q does not start with \"auth/\": give the path of the aws auth method, such as \"auth/aws\"", k.At, s))
					continue
				}
				a.Mount = mount
				l.from["auth.mount"] = k.At
			}
		case "namespace":
			if s, ok := l.vaString(k); ok {
				l.vaNamespace(s, k.At)
			}
		case "config":
			var ok bool
			if config, ok = k.Object(); !ok {
				l.fail(fmt.Errorf("%s: method config is not an object: write config = { type = \"iam\", role = \"...\" }", k.At))
			}
		case "wrap_ttl":
			l.fail(fmt.Errorf("%s: method wrap_ttl: xauth-agent writes the token itself, not a response-wrapped token; remove wrap_ttl, or keep Vault Agent if the reader unwraps", k.At))
		case "exit_on_err":
			l.fail(fmt.Errorf("%s: method exit_on_err: xauth-agent retries network errors and exits on a refused login; remove exit_on_err, or run xauth-agent --once for a single attempt", k.At))
		default:
			if !l.vaSet("auto_auth.method."+k.Name, k) {
				l.vaIgnoreIn("method", k)
			}
		}
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
func (l *loader) applyVaultAgentAWSConfig(keys []hclfile.Item) {
	a := &l.cfg.Auth
	var region, nonceAt string
	var regionSet bool
	for _, k := range keys {
		if l.vaSet("auto_auth.method.config."+k.Name, k) {
			continue
		}
		switch k.Name {
		case "region", "nonce":
			s, ok := l.vaString(k)
			if !ok {
				continue
			}
			if k.Name == "region" {
				region, regionSet = s, true
				l.from["auth.sts_region"] = k.At
			} else {
				nonceAt = k.At
			}
		case "access_key", "secret_key", "session_token":
			l.fail(fmt.Errorf("%s: static AWS credentials (%s) in the config file: xauth-agent takes AWS credentials from the SDK chain only; "+
				"prefer the instance profile, or pass them as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN in the unit's environment, and remove them from the file",
				k.At, k.Name))
		default:
			l.vaIgnore(k.Name, k.At, "aws method config key ")
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
		a.STSEndpoint = awsname.STSEndpoint(region)
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

func (l *loader) applyVaultAgentSink(b hclfile.Item) {
	typ, at, keys := l.blockTypeAndKeys(b)
	if typ != "file" {
		l.fail(fmt.Errorf("%s: auto_auth sink %q is not supported: Vault Agent writes only file sinks; use sink \"file\"", at, typ))
		return
	}
	var config []hclfile.Item
	var wrapTTL time.Duration
	for _, k := range keys {
		switch k.Name {
		case "config":
			var ok bool
			if config, ok = k.Object(); !ok {
				l.fail(fmt.Errorf("%s: sink config is not an object: write config = { path = \"...\" }", k.At))
			}
		case "wrap_ttl":
			// Vault Agent writes Vault's wrap info as JSON: the json format is the same file.
			wrapTTL, _ = l.vaPositiveDuration(k, "sink")
		case "dh_type", "dh_path", "derive_key", "aad", "aad_env_var":
			l.fail(fmt.Errorf("%s: sink %s: xauth-agent does not encrypt sink files; remove the dh_* and aad settings and protect the file with mode, owner and group, or keep Vault Agent", k.At, k.Name))
		default:
			l.vaIgnoreIn("sink", k)
		}
	}

	sink := FileSink{Mode: vaultAgentSinkMode, Format: FormatToken, WrapTTL: wrapTTL}
	if wrapTTL > 0 {
		sink.Format = FormatJSON
	}
	var pathSet, modeSet bool
	idAt := map[string]string{} // "owner", "group" -> file:line
	for _, k := range config {
		switch k.Name {
		case "path":
			if s, ok := l.vaString(k); ok {
				sink.Path, pathSet = s, true
			}
		case "mode":
			if m, ok := l.vaMode(k); ok {
				sink.Mode, modeSet = m, true
			}
		case "owner", "group":
			s, ok := l.vaID(k)
			if !ok || s == "" {
				continue
			}
			idAt[k.Name] = k.At
			if k.Name == "owner" {
				sink.Owner = s
			} else {
				sink.Group = s
			}
		default:
			l.vaIgnore(k.Name, k.At, "file sink config key ")
		}
	}
	if !pathSet {
		l.fail(fmt.Errorf("%s: file sink has no path: set config = { path = \"...\" }", at))
		return
	}
	if !strings.HasPrefix(sink.Path, "/") {
		l.fail(fmt.Errorf("%s: sink path %q is not absolute: use a full path such as \"/run/xauth-agent/token\"", at, sink.Path))
	}
	sink.Path = filepath.Clean(sink.Path) // as the agent's own file has it: "/." is "/", which validate refuses
	if !modeSet {
		l.warn("sink %q (%s) has no mode: Vault Agent's default %04o is kept", sink.Path, at, vaultAgentSinkMode)
	}
	sink.UID, sink.GID = l.ownerIDs(fmt.Sprintf("sink %q", sink.Path), sink.Owner, sink.Group, idAt)
	l.cfg.Sinks = append(l.cfg.Sinks, sink)
	l.sinkFrom = append(l.sinkFrom, at)
}

// vaMode reads a file sink mode as Vault Agent does: an integer whose literal is octal with a
// leading 0 and decimal without (so 640 is 0o1200), or a string read the same way. Only the
// permission bits reach the file.
func (l *loader) vaMode(k hclfile.Item) (os.FileMode, bool) {
	var text string
	if tok, ok := hclfile.Literal(k.Val); ok && (tok.Type == token.NUMBER || tok.Type == token.FLOAT) {
		text = tok.Text
	} else if s, ok := l.vaString(k); ok {
		text = s
	} else {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(text), 0, 64)
	if err != nil || n < 0 || n > 0o7777 {
		l.fail(fmt.Errorf("%s: sink mode %s is not a file mode: write it in octal with a leading zero, such as 0600", k.At, text))
		return 0, false
	}
	mode := os.FileMode(n) & os.ModePerm
	if mode == 0 {
		// Vault Agent documents 0000 as "leave the file's mode alone", while its code creates
		// the file with mode 0000. Neither can be done faithfully by a sink that replaces the
		// file on every write and always sets its mode.
		l.fail(fmt.Errorf("%s: sink mode %s leaves no permission bits: Vault Agent documents 0000 as \"do not change the file's mode\" (its file sink then creates the file with mode 0000), "+
			"but xauth-agent replaces the file on every write and sets its mode: write the mode the readers need, such as 0640 (Vault Agent's default) or 0600", k.At, text))
		return 0, false
	}
	if int64(mode) != n || (!strings.HasPrefix(text, "0") && n > 7) {
		l.warn("sink mode %s (%s) is read as Vault Agent reads it: %d decimal, so the file gets permissions %04o; to mean octal, write a leading zero (such as 0640)", text, k.At, n, uint32(mode))
	}
	return mode, true
}

// vaID reads a file sink's owner or group as Vault Agent does: a number, the uid or gid, with
// -1 for "leave it as the agent's" (returned as ""). A quoted number is taken too.
func (l *loader) vaID(k hclfile.Item) (string, bool) {
	text := ""
	if tok, ok := hclfile.Literal(k.Val); ok && tok.Type == token.NUMBER {
		text = tok.Text
	} else if s, ok := l.vaString(k); ok {
		text = s
	} else {
		return "", false
	}
	if text == "-1" {
		return "", true
	}
	if strings.Trim(text, "0123456789") != "" || text == "" {
		l.fail(fmt.Errorf("%s: sink %s %q is not a numeric id: Vault Agent takes the uid or gid as a number", k.At, k.Name, text))
		return "", false
	}
	return text, true
}

// vaPositiveDuration reads a duration as Vault does: whole seconds, as a number or a string,
// or a Go duration ("5m"). stanza names k's stanza in the error ("method", "sink").
func (l *loader) vaPositiveDuration(k hclfile.Item, stanza string) (time.Duration, bool) {
	const maxSecs = int64(maxDuration / time.Second)
	tok, _ := hclfile.Literal(k.Val)
	var d time.Duration
	var err error
	switch tok.Type {
	case token.NUMBER:
		secs, perr := strconv.ParseInt(tok.Text, 0, 64)
		if perr != nil || secs < 0 || secs > maxSecs {
			err = fmt.Errorf("not a whole number of seconds")
		}
		d = time.Duration(secs) * time.Second
	case token.FLOAT:
		f, perr := strconv.ParseFloat(tok.Text, 64)
		if perr != nil || f != math.Trunc(f) || f < 0 || f > float64(maxSecs) {
			err = fmt.Errorf("not a whole number of seconds")
		}
		d = time.Duration(f) * time.Second
	case token.STRING, token.HEREDOC:
		s, _, serr := hclfile.StringOf(tok)
		if serr != nil {
			err = serr
		} else if secs, perr := strconv.ParseInt(s, 10, 64); perr == nil {
			if secs < 0 || secs > maxSecs {
				err = fmt.Errorf("out of range")
			}
			d = time.Duration(secs) * time.Second
		} else {
			d, err = time.ParseDuration(s)
		}
	default:
		err = fmt.Errorf("not a duration")
	}
	if err != nil || d <= 0 {
		l.fail(fmt.Errorf("%s: %s %s is not a positive duration: write it like \"1s\" or \"5m\"", k.At, stanza, k.Name))
		return 0, false
	}
	return d, true
}

// vaSet sets the setting that the Vault Agent key vaKey sets the same way, from k, and says
// whether there is one.
func (l *loader) vaSet(vaKey string, k hclfile.Item) bool {
	all := l.schema
	i := slices.IndexFunc(all, func(s setting) bool { return s.va == vaKey })
	if i < 0 {
		return false
	}
	ok := false
	if b, isBool := all[i].v.(scalar[bool]); isBool {
		*b.p, ok = l.vaBool(k) // after an error the config is not used
	} else if d, isDuration := all[i].v.(scalar[time.Duration]); isDuration {
		*d.p, ok = l.vaPositiveDuration(k, "method") // the method's backoffs are its only durations
	} else if text, isString := l.vaString(k); isString {
		if alias, known := vaultAgentAliases[vaKey+" "+text]; known {
			l.warn("%s %q (%s) is read as %q", vaKey, text, k.At, alias)
			text = alias
		}
		// Every other Vault Agent key the table names is a string.
		if err := all[i].v.set(text); err != nil {
			l.fail(fmt.Errorf("%s: %s %q %w", k.At, vaKey, text, err))
		} else {
			ok = true
		}
	}
	if ok {
		l.from[all[i].key] = k.At
	}
	return true
}

// vaString reads a string setting; a number or bool is an error, as in Vault.
func (l *loader) vaString(k hclfile.Item) (string, bool) {
	if tok, ok := hclfile.Literal(k.Val); ok {
		if s, isString, err := hclfile.StringOf(tok); isString && err == nil {
			return s, true
		}
	}
	l.fail(fmt.Errorf("%s: %s is not a string constant: write it in quotes", k.At, k.Name))
	return "", false
}

// vaBool reads a true/false setting, also written as a string ("true", "1").
func (l *loader) vaBool(k hclfile.Item) (bool, bool) {
	if tok, ok := hclfile.Literal(k.Val); ok {
		switch tok.Type {
		case token.BOOL:
			return tok.Text == "true", true
		case token.STRING, token.HEREDOC:
			s, _, _ := hclfile.StringOf(tok)
			if b, err := strconv.ParseBool(s); err == nil {
				return b, true
			}
		}
	}
	l.fail(fmt.Errorf("%s: %s is not true or false", k.At, k.Name))
	return false, false
}
