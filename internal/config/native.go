package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NativeHCL renders c as a native config file that loads to the same settings (apart from
// Source, Warnings and ExitAfterAuth, which has no native setting: use --once). Defaults are
// written out too, so the file shows every choice.
func NativeHCL(c *Config) []byte {
	v := &hclBlock{typ: "vault"}
	v.str("address", c.Vault.Address, true)
	v.str("namespace", c.Vault.Namespace, false)
	v.str("ca_cert", c.Vault.CACert, false)
	v.str("ca_path", c.Vault.CAPath, false)
	v.str("client_cert", c.Vault.ClientCert, false)
	v.str("client_key", c.Vault.ClientKey, false)
	v.str("tls_server_name", c.Vault.TLSServerName, false)
	if c.Vault.TLSSkipVerify {
		v.boolean("tls_skip_verify", true)
	}
	blocks := []*hclBlock{v}

	a := &hclBlock{typ: "auth", labels: []string{c.Auth.Method}}
	a.str("type", c.Auth.Type, true)
	a.str("role", c.Auth.Role, false)
	a.str("mount", c.Auth.Mount, true)
	if c.Auth.Type == "iam" {
		a.str("header_value", c.Auth.HeaderValue, false)
		a.str("sts_region", c.Auth.STSRegion, true)
		a.str("sts_endpoint", c.Auth.STSEndpoint, true)
		if r := c.Auth.AssumeRole; r.ARN != "" {
			a.str("assume_role_arn", r.ARN, true)
			a.str("assume_role_external_id", r.ExternalID, false)
			a.str("assume_role_session_name", r.SessionName, false)
			a.str("assume_role_duration", r.Duration.String(), true)
		}
	} else {
		a.str("signature", c.Auth.Signature, true)
		a.str("nonce_file", c.Auth.NonceFile, true)
	}
	if c.Auth.IMDSv2Only {
		a.boolean("imds_v2_only", true)
	}
	blocks = append(blocks, a)

	for _, s := range c.Sinks {
		b := &hclBlock{typ: "sink", labels: []string{"file"}}
		b.str("path", s.Path, true)
		b.str("mode", fmt.Sprintf("%04o", uint32(s.Mode.Perm())), true)
		b.str("owner", s.Owner, false)
		b.str("group", s.Group, false)
		b.str("format", s.Format, true)
		blocks = append(blocks, b)
	}
	if s := c.Socket; s != nil {
		b := &hclBlock{typ: "sink", labels: []string{"socket"}}
		b.str("path", s.Path, true)
		b.str("mode", fmt.Sprintf("%04o", uint32(s.Mode.Perm())), true)
		b.str("group", s.Group, false)
		b.ints("allow_uids", s.AllowUIDs)
		b.ints("allow_gids", s.AllowGIDs)
		blocks = append(blocks, b)
	}

	g := &hclBlock{typ: "log"}
	g.str("level", c.Log.Level, true)
	g.str("format", c.Log.Format, true)

	lc := &hclBlock{typ: "lifecycle"}
	lc.str("min_backoff", c.Lifecycle.MinBackoff.String(), true)
	lc.str("max_backoff", c.Lifecycle.MaxBackoff.String(), true)
	lc.boolean("revoke_on_exit", c.Lifecycle.RevokeOnExit)
	lc.boolean("remove_sinks_on_exit", c.Lifecycle.RemoveSinksOnExit)
	blocks = append(blocks, g, lc)

	var buf bytes.Buffer
	for i, b := range blocks {
		if i > 0 {
			buf.WriteByte('\n')
		}
		b.write(&buf)
	}
	return buf.Bytes()
}

// hclBlock is a block for NativeHCL to write: its type, labels and attributes, in order.
type hclBlock struct {
	typ    string
	labels []string
	attrs  []hclAttr
}

// hclAttr is an attribute, with its value as HCL text.
type hclAttr struct{ name, value string }

// str adds a string attribute, unless v is empty and not always written.
func (b *hclBlock) str(name, v string, always bool) {
	if v != "" || always {
		b.attrs = append(b.attrs, hclAttr{name, quoteHCL(v)})
	}
}

func (b *hclBlock) boolean(name string, v bool) {
	b.attrs = append(b.attrs, hclAttr{name, strconv.FormatBool(v)})
}

// ints adds a list of numbers, unless it is empty.
func (b *hclBlock) ints(name string, v []int) {
	if len(v) == 0 {
		return
	}
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	b.attrs = append(b.attrs, hclAttr{name, "[" + strings.Join(s, ", ") + "]"})
}

// write writes the block as `type "label" {`, its attributes indented by two spaces with
// their "=" aligned, and "}".
func (b *hclBlock) write(buf *bytes.Buffer) {
	buf.WriteString(b.typ)
	for _, l := range b.labels {
		buf.WriteString(" " + quoteHCL(l))
	}
	buf.WriteString(" {\n")
	width := 0
	for _, a := range b.attrs {
		width = max(width, len(a.name))
	}
	for _, a := range b.attrs {
		fmt.Fprintf(buf, "  %-*s = %s\n", width, a.name, a.value)
	}
	buf.WriteString("}\n")
}

// quoteHCL quotes s as an HCL 1 string that reads back as s, byte for byte: quote, backslash
// and the usual control characters are escaped as in Go, other unprintable characters as
// \uXXXX, and bytes that are not UTF-8 as \xXX. The "{" of "${" is written \u007b, so that the
// string holds no "${", which HCL 1 would copy without unescaping and the agent refuses.
func quoteHCL(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '{' && i > 0 && s[i-1] == '$':
			b.WriteString(`\u007b`)
		case !unicode.IsPrint(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}
