package config

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NativeHCL renders c as a native config file that loads to the same settings (apart from
// Source, Warnings and ExitAfterAuth, which has no native setting: use --once). Defaults are
// written out too, so the file shows every choice. The blocks and their attributes are those
// of the schema (topBlocks, settings and the sinks' tables), in its order; a setting is left out when it is zero and has no default, or
// applies to the other auth type.
func NativeHCL(c *Config) []byte {
	all := settings(c)
	var blocks []hclBlock
	for _, tb := range topBlocks {
		switch tb.name {
		case "auth":
			blocks = append(blocks, newBlock("auth", []string{c.Auth.Method}, inBlock(all, "auth"), c.Auth.Type))
		case "sink":
			for i := range c.Sinks {
				blocks = append(blocks, newBlock("sink", []string{"file"}, fileSinkAttrs(&c.Sinks[i]), ""))
			}
			if c.Socket != nil {
				blocks = append(blocks, newBlock("sink", []string{"socket"}, socketAttrs(c.Socket), ""))
			}
		default:
			blocks = append(blocks, newBlock(tb.name, nil, inBlock(all, tb.name), ""))
		}
	}

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

// newBlock is the block typ with the attributes of attrs that NativeHCL writes for authType.
func newBlock(typ string, labels []string, attrs []setting, authType string) hclBlock {
	b := hclBlock{typ: typ, labels: labels}
	for _, s := range attrs {
		if text, set := s.v.hcl(); (set || s.def != "") && (s.only == "" || s.only == authType) {
			b.attrs = append(b.attrs, hclAttr{s.key, text})
		}
	}
	return b
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
