package config

import (
	"bytes"

	"github.com/xauth-agent/xauth-agent/internal/hclfile"
)

// NativeHCL renders c as a native config file that loads to the same settings (apart from
// Source, Warnings and ExitAfterAuth, which has no native setting: use --once). Defaults are
// written out too, so the file shows every choice. The blocks and their attributes are those
// of the schema (topBlocks, settings and the sinks' tables), in its order; a setting is left out when it is zero and has no default, or
// applies to the other auth type.
func NativeHCL(c *Config) []byte {
	all := settings(c)
	var blocks []hclfile.Block
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
		default: // a block with nothing to say (health without an address) is left out
			if b := newBlock(tb.name, nil, inBlock(all, tb.name), ""); len(b.Attrs) > 0 {
				blocks = append(blocks, b)
			}
		}
	}

	var buf bytes.Buffer
	for i, b := range blocks {
		if i > 0 {
			buf.WriteByte('\n')
		}
		b.Write(&buf)
	}
	return buf.Bytes()
}

// newBlock is the block typ with the attributes of attrs that NativeHCL writes for authType.
func newBlock(typ string, labels []string, attrs []setting, authType string) hclfile.Block {
	b := hclfile.Block{Type: typ, Labels: labels}
	for _, s := range attrs {
		if text, set := s.v.hcl(); (set || s.def != "") && (s.only == "" || s.only == authType) {
			b.Attrs = append(b.Attrs, hclfile.Attr{Name: s.key, Value: text})
		}
	}
	return b
}
