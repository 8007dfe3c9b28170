package config

// Reading a native config file: its blocks are checked here, and their attributes are
// decoded by the tables of schema.go.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
	"github.com/xauth-agent/xauth-agent/internal/hclfile"
	"github.com/xauth-agent/xauth-agent/internal/ids"
)

// topBlocks are the blocks of a config file, in the documentation's order, which NativeHCL
// writes them in, with the label each takes ("" for none).
var topBlocks = []struct{ name, label string }{
	{"vault", ""},
	{"auth", `method, as in auth "aws" { ... }`},
	{"sink", `type, as in sink "file" { ... } or sink "socket" { ... }`},
	{"log", ""},
	{"lifecycle", ""},
	{"health", ""},
}

// applyFile decodes a native config file's items into the configuration and records where
// each setting is set.
func (l *loader) applyFile(items []hclfile.Item) {
	first := map[string]string{} // block name -> where the first one is, for the blocks allowed once
	for _, it := range items {
		if !l.checkBlock(it, first) {
			continue
		}
		body, _ := it.Object() // a block's value is always an object
		switch it.Name {
		case "sink":
			l.applySink(it.Labels[0], body)
			continue
		case "auth":
			if m := it.Labels[0]; m.Text != "aws" {
				l.fail(fmt.Errorf("%s: auth method %q is not supported: use auth \"aws\"", m.At, m.Text))
				continue
			}
		}
		set, _ := l.decodeBody(it.Name, body, inBlock(l.schema, it.Name), func() string { return it.Name + "." })
		for name, at := range set {
			l.from[it.Name+"."+name] = at
		}
	}
}

// checkBlock checks a top-level item: a known block, with the labels it takes, and only one
// of each but sink. first maps each block name to where the first one is.
func (l *loader) checkBlock(it hclfile.Item, first map[string]string) bool {
	i := slices.IndexFunc(topBlocks, func(b struct{ name, label string }) bool { return b.name == it.Name })
	names := make([]string, len(topBlocks))
	for j, b := range topBlocks {
		names[j] = b.name
	}
	fail := func(format string, args ...any) bool { l.fail(fmt.Errorf(format, args...)); return false }
	switch {
	case i < 0 && it.Assign:
		return fail("%s: unknown attribute %q at the top level%s: settings go in the vault, auth, sink, log, lifecycle and health blocks",
			it.At, it.Name, hclfile.Suggest(it.Name, names))
	case i < 0:
		return fail("%s: unknown block %q%s: a config file has vault, auth, sink, log, lifecycle and health blocks; remove it, or check its spelling",
			it.At, it.Name, hclfile.Suggest(it.Name, names))
	case it.Assign:
		return fail("%s: %s is a block: write %s { ... }, without \"=\"", it.At, it.Name, it.Name)
	}
	switch labelDoc := topBlocks[i].label; {
	case labelDoc == "" && len(it.Labels) > 0:
		return fail("%s: the %s block takes no label, and has %q: write %s { ... }", it.At, it.Name, it.Labels[0].Text, it.Name)
	case labelDoc != "" && len(it.Labels) == 0:
		return fail("%s: the %s block has no label: it takes its %s", it.At, it.Name, labelDoc)
	case labelDoc != "" && len(it.Labels) > 1:
		return fail("%s: the %s block has %d labels: it takes one, its %s", it.Labels[1].At, it.Name, len(it.Labels), labelDoc)
	}
	if prev, dup := first[it.Name]; dup && it.Name != "sink" {
		return fail("%s: Duplicate %s block: a config file has one, and another is at %s; merge them", it.At, it.Name, prev)
	}
	first[it.Name] = it.At
	return true
}

// decodeBody decodes the attributes of a block's body into attrs, in the order of attrs, and
// returns where each is set, and whether the body has the block's shape: no unknown attribute,
// no nested block, no value of a kind the setting does not take. prefix() qualifies a name
// in the messages of values a setting refuses ("vault." or `sink "/run/t": `).
func (l *loader) decodeBody(block string, body []hclfile.Item, attrs []setting, prefix func() string) (map[string]string, bool) {
	names := make([]string, len(attrs))
	at := map[string]string{}
	shaped := true
	for i, s := range attrs {
		names[i] = s.key
		for _, it := range body {
			if it.Name != s.key || !it.Assign {
				continue
			}
			if l.decode(block+"."+s.key, prefix()+s.key, it, s.v) {
				at[s.key] = it.At
			} else {
				shaped = false
			}
		}
	}
	for _, it := range body {
		known := slices.Contains(names, it.Name)
		shaped = shaped && known && it.Assign
		switch {
		case !known && it.Assign:
			l.fail(fmt.Errorf("%s: unknown attribute %q in the %s block%s: remove it, or use one of %s",
				it.At, it.Name, block, hclfile.Suggest(it.Name, names), strings.Join(names, ", ")))
		case !known:
			l.fail(fmt.Errorf("%s: unknown block %q in the %s block: it has no blocks inside, only the attributes %s",
				it.At, it.Name, block, strings.Join(names, ", ")))
		case !it.Assign:
			l.fail(fmt.Errorf("%s: %s.%s is an attribute, not a block: write %s = value instead", it.At, block, it.Name, it.Name))
		}
	}
	return at, shaped
}

// decode sets v from the attribute it, or reports why it cannot, and says whether the value
// is of a kind v takes. A value of the wrong kind is named by its key ("sink.allow_gids"); a
// value v refuses, by name ("sink "/run/t": mode"), and counts as set, as the other checks of
// its block need to know. A string value is read as written, but for a "${", which the agent refuses in its
// own files: it does not interpolate. (A Vault Agent config reads it as text, as Vault does:
// vaString.)
func (l *loader) decode(key, name string, it hclfile.Item, v value) bool {
	var err error
	tok, _ := hclfile.Literal(it.Val)
	_, isBool := v.(scalar[bool])
	_, isList := it.Val.(*ast.ListType)
	_, one := v.(oneOrList)
	if lv, ok := v.(listValue); ok && (isList || !one) {
		err = l.decodeList(key, it, lv)
	} else if isBool && tok.Type != token.BOOL && tok.Text != `"true"` && tok.Text != `"false"` {
		err = fmt.Errorf("%s: %s %s is not a bool: write true or false", it.At, key, hclfile.Describe(it.Val))
	} else if text, terr := literalText(it.Val); terr != nil {
		err = fmt.Errorf("%s: %s %w", it.At, key, terr)
	} else if serr := v.set(text); serr != nil {
		l.fail(fmt.Errorf("%s: %s %q %w", it.At, name, text, serr))
	}
	if err != nil {
		l.fail(err)
	}
	return err == nil
}

// literalText returns the text of a single literal: a string's value, or a number or bool as
// written, so that mode = 0600 reads as "0600".
func literalText(n ast.Node) (string, error) {
	tok, ok := hclfile.Literal(n)
	if !ok {
		return "", fmt.Errorf("is %s, not a string: write it in quotes", hclfile.Kind(n))
	}
	if (tok.Type == token.STRING || tok.Type == token.HEREDOC) && strings.Contains(tok.Text, "${") {
		return "", fmt.Errorf("%s contains \"${\": the agent does not evaluate interpolations; write the value itself", hclfile.Clip(tok.Text))
	}
	s, isString, err := hclfile.StringOf(tok)
	if !isString {
		s = tok.Text
	}
	return s, err
}

// decodeList sets a list value from the attribute it, written [a, b].
func (l *loader) decodeList(key string, it hclfile.Item, v listValue) error {
	lst, ok := it.Val.(*ast.ListType)
	if !ok {
		return fmt.Errorf("%s: %s is %s, not a list: write it in brackets, such as [%s]", it.At, key, hclfile.Kind(it.Val), hclfile.Describe(it.Val))
	}
	texts := make([]string, len(lst.List))
	for i, e := range lst.List {
		text, err := literalText(e)
		if err != nil {
			return fmt.Errorf("%s: %s has %s: give single values, such as [1, 2]", it.At, key, hclfile.Describe(e))
		}
		texts[i] = text
	}
	if i, err := v.setEach(texts); err != nil {
		return fmt.Errorf("%s: %s has %s, which %w", it.At, key, hclfile.Describe(lst.List[i]), err)
	}
	return nil
}

// applySink decodes a sink block of type typ, checks its path, and resolves its owner and
// group. A sink whose body has not the block's shape is left out, so that it causes no others.
func (l *loader) applySink(typ hclfile.Label, body []hclfile.Item) {
	switch typ.Text {
	case "file":
		s := FileSink{}
		attrs := fileSinkAttrs(&s)
		setDefaults(attrs)
		at, shaped := l.decodeBody("sink", body, attrs, func() string { return fmt.Sprintf("sink %q: ", s.Path) })
		if !shaped || !l.sinkPath(typ, &s.Path, at, "sink", "token file", "/run/xauth-agent/token") {
			return
		}
		s.UID, s.GID = l.ownerIDs(fmt.Sprintf("sink %q", s.Path), s.Owner, s.Group, at)
		l.cfg.Sinks = append(l.cfg.Sinks, s)
		l.sinkFrom = append(l.sinkFrom, at["path"])
	case "socket":
		s := &SocketSink{}
		attrs := socketAttrs(s)
		setDefaults(attrs)
		at, shaped := l.decodeBody("sink", body, attrs, func() string { return fmt.Sprintf("sink \"socket\" %q: ", s.Path) })
		if !shaped || !l.sinkPath(typ, &s.Path, at, "socket", "socket file", "/run/xauth-agent/agent.sock") {
			return
		}
		if l.cfg.Socket != nil {
			l.fail(fmt.Errorf("%s: a second sink \"socket\": the agent serves one local API socket", typ.At))
			return
		}
		s.GID = l.resolve(fmt.Sprintf("sink \"socket\" %q", s.Path), "group", s.Group, at["group"], ids.GID, "create the group, or give a numeric gid")
		if s.Mode&0o002 != 0 {
			l.warn("sink \"socket\" %q (%s) has mode %04o: any local user can connect; access still needs allow_uids/allow_gids", s.Path, at["path"], s.Mode)
		}
		for _, id := range append(append([]int(nil), s.AllowUIDs...), s.AllowGIDs...) {
			if err := ids.Check(id); err != nil {
				l.fail(fmt.Errorf("%s: sink \"socket\" %q: allow_uids/allow_gids: %w", at["path"], s.Path, err))
			}
		}
		l.cfg.Socket = s
		l.socketFrom = at["path"]
	default:
		l.fail(fmt.Errorf("%s: sink type %q is not supported: use sink \"file\" or sink \"socket\"", typ.At, typ.Text))
	}
}

// sinkPath checks that a sink's path is set and absolute, and cleans it; at says where the
// sink's attributes are set.
func (l *loader) sinkPath(typ hclfile.Label, path *string, at map[string]string, noun, what, example string) bool {
	if _, set := at["path"]; !set {
		l.fail(fmt.Errorf("%s: sink %q has no path: \"path\" is required; set it to the %s, such as path = %q", typ.At, typ.Text, what, example))
		return false
	}
	if !filepath.IsAbs(*path) {
		l.fail(fmt.Errorf("%s: %s path %q is not absolute: use a full path such as %q", at["path"], noun, *path, example))
	}
	*path = filepath.Clean(*path)
	return true
}
