package hclfile

// Writing HCL: blocks of attributes, and strings that read back byte for byte.

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Block is a block to write: its type, labels and attributes, in order.
type Block struct {
	Type   string
	Labels []string
	Attrs  []Attr
}

// Attr is an attribute, with its value as HCL text (Quote makes a string's).
type Attr struct{ Name, Value string }

// Write writes the block as `type "label" {`, its attributes indented by two spaces with
// their "=" aligned, and "}".
func (b *Block) Write(buf *bytes.Buffer) {
	buf.WriteString(b.Type)
	for _, l := range b.Labels {
		buf.WriteString(" " + Quote(l))
	}
	buf.WriteString(" {\n")
	width := 0
	for _, a := range b.Attrs {
		width = max(width, len(a.Name))
	}
	for _, a := range b.Attrs {
		fmt.Fprintf(buf, "  %-*s = %s\n", width, a.Name, a.Value)
	}
	buf.WriteString("}\n")
}

// Quote quotes s as an HCL 1 string that reads back as s, byte for byte: quote, backslash
// and the usual control characters are escaped as in Go, other unprintable characters as
// \uXXXX, and bytes that are not UTF-8 as \xXX. The "{" of "${" is written \u007b, so that the
// string holds no "${", which HCL 1 would copy without unescaping and a reader that refuses interpolation would refuse.
func Quote(s string) string {
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
