// Package hclfile reads and writes HCL version 1 (github.com/hashicorp/hcl), the syntax Vault
// reads Vault Agent configs with and the agent reads its own. It turns the parser's syntax
// tree into items (attributes and blocks, each with its file:line) and its literals into Go
// values, makes the parser's errors say file:line:column and what is wrong, and writes blocks
// and strings that read back as written (write.go). It knows nothing of any schema: what a
// file may contain is decided by internal/config.
package hclfile

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/hcl/scanner"
	hclstrconv "github.com/hashicorp/hcl/hcl/strconv"
	"github.com/hashicorp/hcl/hcl/token"
)

// maxNesting bounds how deeply braces and brackets may nest. The parser descends one level of
// recursion per level of nesting, so without a bound a file of a few megabytes of "[" would
// overflow the stack, which no recover catches. Real configs nest four or five levels.
const maxNesting = 64

// Item is one entry of an HCL body: an attribute (`name = value`) or a block
// (`name "label" { ... }`). HCL 1 also lets an object be assigned (`name = { ... }`), which
// Vault reads like a block; Assign tells the two apart.
type Item struct {
	File   string
	Name   string
	Labels []Label  // a block's labels, after its name
	Assign bool     // written with "="
	Val    ast.Node // *ast.LiteralType, *ast.ListType or *ast.ObjectType
	At     string   // "file:line" of the name
}

// Label is one label of a block, such as "aws" in auth "aws" { ... }.
type Label struct {
	Text string
	At   string // file:line
}

// IsObject says whether its value is an object: a block, or an object assigned with "=".
func (it Item) IsObject() bool {
	_, ok := it.Val.(*ast.ObjectType)
	return ok
}

// Object returns the items of its value when that is an object, written as a block or
// assigned with "=".
func (it Item) Object() ([]Item, bool) {
	o, ok := it.Val.(*ast.ObjectType)
	if !ok {
		return nil, false
	}
	return itemsOf(it.File, o.List), true
}

// Parse parses src as HCL 1 and returns its top-level items. The error names the file,
// the line and the column of the first syntax error and says what is wrong.
func Parse(filename string, src []byte) ([]Item, error) {
	// The parser reads \r\n as \n; do it first so that the scan below sees the same text.
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	if trimmed := bytes.TrimLeft(src, " \t\n\r"); len(trimmed) > 0 && trimmed[0] == '{' {
		line := 1 + bytes.Count(src[:len(src)-len(trimmed)], []byte("\n"))
		return nil, fmt.Errorf("%s:%d: the file starts with \"{\": JSON config files are not supported; write HCL blocks such as vault { address = \"...\" }", filename, line)
	}
	s, err := scan(filename, src)
	if err != nil {
		return nil, err
	}
	f, err := parse(src)
	if err != nil {
		return nil, s.syntaxError(err)
	}
	list, ok := f.Node.(*ast.ObjectList)
	if !ok {
		return nil, fmt.Errorf("%s: the file is not an HCL body of attributes and blocks", filename)
	}
	if err := checkBody(filename, list); err != nil {
		return nil, err
	}
	return itemsOf(filename, list), nil
}

// parse runs the HCL parser. The parser has panicked on malformed input in the past; a panic
// becomes an error rather than a crash of the agent (or of validate).
func parse(src []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the HCL parser failed on this file (%v): check its syntax", r)
		}
	}()
	// Duplicate attributes are reported by checkBody, with the file name and both lines.
	return parser.ParseDontErrorOnDuplicateKeys(src)
}

// scanned is what scan found out about a file, for syntaxError.
type scanned struct {
	filename string
	toks     []token.Token // every token but comments, in order, ending with EOF
	unclosed []token.Pos   // the "{" and "[" still open at the end of the file, innermost last
}

// scan reads src token by token before the parser does. It reports the first lexical error
// (the parser reports only the last one), refuses nesting deeper than maxNesting, and refuses
// a "=" at the end of the file, which the parser would silently drop together with its name.
func scan(filename string, src []byte) (*scanned, error) {
	var first error
	sc := scanner.New(src)
	sc.Error = func(pos token.Pos, msg string) {
		if first == nil {
			first = fmt.Errorf("%s: syntax error: %s", position(filename, pos), lexMessage(msg, src, pos))
		}
	}
	s := &scanned{filename: filename}
	for {
		tok := sc.Scan()
		if first != nil {
			return nil, first
		}
		switch tok.Type {
		case token.EOF:
			if n := len(s.toks); n > 0 && s.toks[n-1].Type == token.ASSIGN {
				return nil, fmt.Errorf("%s: syntax error: the file ends after \"=\": give the value", position(filename, s.toks[n-1].Pos))
			}
			s.toks = append(s.toks, tok)
			return s, nil
		case token.COMMENT:
			continue
		case token.LBRACE, token.LBRACK:
			if s.unclosed = append(s.unclosed, tok.Pos); len(s.unclosed) > maxNesting {
				return nil, fmt.Errorf("%s: syntax error: more than %d levels of nested braces and brackets", position(filename, tok.Pos), maxNesting)
			}
		case token.RBRACE, token.RBRACK:
			if n := len(s.unclosed); n > 0 {
				s.unclosed = s.unclosed[:n-1]
			}
		}
		s.toks = append(s.toks, tok)
	}
}

// position formats pos as "file:line:column".
func position(filename string, pos token.Pos) string {
	return fmt.Sprintf("%s:%d:%d", filename, pos.Line, pos.Column)
}

// lineOf formats pos as "file:line", the form every other message uses.
func lineOf(filename string, pos token.Pos) string {
	return fmt.Sprintf("%s:%d", filename, pos.Line)
}

// lexMessage rewords the scanner's messages that a user is likely to meet. pos is where the
// scanner stopped: at the offending character.
func lexMessage(msg string, src []byte, pos token.Pos) string {
	switch msg {
	case "literal not terminated":
		return `a quoted string is not closed on its line: end it with ", and write a newline inside it as \n`
	case "illegal char":
		r := '?'
		if pos.Offset >= 0 && pos.Offset < len(src) {
			r, _ = utf8.DecodeRune(src[pos.Offset:])
		}
		switch r {
		case '\'':
			return `unexpected character "'": write strings in double quotes`
		case ':':
			return `unexpected character ":": write name = value`
		case '(', ')', '*', '!', '?', '>', '%', '&', '|':
			return fmt.Sprintf("unexpected character %q: write a value as it is; functions, operators and expressions are not supported", string(r))
		}
		return fmt.Sprintf("unexpected character %q", string(r))
	case "illegal char escape":
		return `an unknown escape in a quoted string: use \\, \", \n, \t, \r or \uXXXX`
	case "illegal UTF-8 encoding":
		return "the file is not valid UTF-8"
	}
	return msg
}

// syntaxError rewrites a parser error, which names tokens by type (LBRACE, IDENT) and has no
// file name, as "file:line:column: syntax error: what was expected, found what".
func (s *scanned) syntaxError(err error) error {
	filename := s.filename
	var pe *parser.PosError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: syntax error: %w", filename, err)
	}
	found := ""
	if tok, ok := tokenAt(s.toks, pe.Pos); ok {
		found = describe(tok)
	}
	msg, hint := pe.Err.Error(), ""
	switch {
	case strings.HasPrefix(msg, "Unknown token"):
		msg = "expected a value"
		hint = `write a "quoted string", a number, true, false, a [list] or an { object }`
		if strings.HasPrefix(found, "the name ") {
			hint += "; variables, functions and expressions are not supported"
		}
	case strings.HasPrefix(msg, "key '"):
		key, _, _ := strings.Cut(strings.TrimPrefix(msg, "key '"), "'")
		msg = fmt.Sprintf(`expected "=" or "{" after %s`, key)
	case strings.HasPrefix(msg, "nested object expected"):
		msg = `expected "{" after a block's labels`
		hint = `an attribute has a single name, as in name = "value"`
	case strings.HasPrefix(msg, "expected: IDENT | STRING got: LBRACE"):
		msg = `expected a name before "{"`
		if pe.Pos.Line == 1 && pe.Pos.Column == 1 {
			hint = "JSON config files are not supported: write HCL blocks such as vault { ... }"
		}
	case strings.HasPrefix(msg, "no object keys found"):
		msg = `expected a name before "="`
	case strings.HasPrefix(msg, "object expected closing RBRACE"):
		msg = `expected "}"`
		if n := len(s.unclosed); n > 0 && found == "the end of the file" {
			msg = fmt.Sprintf(`expected "}" to close the "{" at line %d`, s.unclosed[n-1].Line)
		}
	case strings.HasPrefix(msg, "error parsing list"):
		msg = `expected "," or "]" in a list`
	default:
		msg = tokenNames.Replace(msg)
	}
	if found != "" {
		msg += ", found " + found
	}
	if hint != "" {
		msg += ": " + hint
	}
	return fmt.Errorf("%s: syntax error: %s", position(filename, pe.Pos), msg)
}

// tokenNames turns the parser's token type names into what they look like in a file.
var tokenNames = strings.NewReplacer(
	"LBRACE", `"{"`, "RBRACE", `"}"`, "LBRACK", `"["`, "RBRACK", `"]"`, "ASSIGN", `"="`,
	"COMMA", `","`, "PERIOD", `"."`, "ADD", `"+"`, "SUB", `"-"`, "EOF", "the end of the file",
	"IDENT", "a name", "STRING", "a string", "HEREDOC", "a heredoc", "NUMBER", "a number",
	"FLOAT", "a number", "BOOL", "true or false",
)

// tokenAt returns the token that starts at pos.
func tokenAt(toks []token.Token, pos token.Pos) (token.Token, bool) {
	i := sort.Search(len(toks), func(i int) bool { return toks[i].Pos.Offset >= pos.Offset })
	if i < len(toks) && toks[i].Pos.Offset == pos.Offset {
		return toks[i], true
	}
	return token.Token{}, false
}

// describe names a token for a message.
func describe(tok token.Token) string {
	text := Clip(tok.Text)
	switch tok.Type {
	case token.EOF:
		return "the end of the file"
	case token.IDENT:
		return "the name " + text
	case token.STRING, token.HEREDOC:
		return "the string " + text
	default:
		return strconv.Quote(text)
	}
}

// Clip shortens s, as written in the file, for a message.
func Clip(s string) string {
	const limit = 60
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// checkBody checks what the parser lets through in every body of list: each name and label
// must be a readable string, and an attribute may be set only once in a body. Repeated
// blocks are for the schema to judge (a file has many sinks but one vault block).
func checkBody(filename string, list *ast.ObjectList) error {
	seen := map[string]token.Pos{}
	for _, oi := range list.Items {
		for _, k := range oi.Keys {
			if _, err := keyText(k.Token); err != nil {
				return fmt.Errorf("%s: syntax error: %w", position(filename, k.Pos()), err)
			}
		}
		if oi.Assign.IsValid() && len(oi.Keys) > 0 {
			name, _ := keyText(oi.Keys[0].Token)
			if prev, ok := seen[name]; ok {
				return fmt.Errorf("%s: %q is set twice in the same block (first at %s): keep one", lineOf(filename, oi.Keys[0].Pos()), name, lineOf(filename, prev))
			}
			seen[name] = oi.Keys[0].Pos()
		}
		if err := checkValue(filename, oi.Val); err != nil {
			return err
		}
	}
	return nil
}

// checkValue runs checkBody on the objects in n, and checks that its strings can be read.
// The recursion is bounded by maxNesting.
func checkValue(filename string, n ast.Node) error {
	switch v := n.(type) {
	case *ast.ObjectType:
		return checkBody(filename, v.List)
	case *ast.ListType:
		for _, e := range v.List {
			if err := checkValue(filename, e); err != nil {
				return err
			}
		}
	case *ast.LiteralType:
		if _, _, err := StringOf(v.Token); err != nil {
			return fmt.Errorf("%s: syntax error: %w", position(filename, v.Pos()), err)
		}
	}
	return nil
}

// itemsOf turns the parser's object items into items. checkBody has checked their names.
func itemsOf(filename string, list *ast.ObjectList) []Item {
	items := make([]Item, 0, len(list.Items))
	for _, oi := range list.Items {
		if len(oi.Keys) == 0 || oi.Val == nil {
			continue // the parser does not produce these
		}
		it := Item{File: filename, Assign: oi.Assign.IsValid(), Val: oi.Val, At: lineOf(filename, oi.Keys[0].Pos())}
		it.Name, _ = keyText(oi.Keys[0].Token)
		for _, k := range oi.Keys[1:] {
			text, _ := keyText(k.Token)
			it.Labels = append(it.Labels, Label{Text: text, At: lineOf(filename, k.Pos())})
		}
		items = append(items, it)
	}
	return items
}

// keyText returns a name or label as written: a bare name, or a quoted string unquoted.
func keyText(tok token.Token) (string, error) {
	if tok.Type == token.STRING {
		return unquote(tok)
	}
	return tok.Text, nil
}

// unquote returns the value of a quoted string token. Unlike token.Value it does not panic.
func unquote(tok token.Token) (string, error) {
	s, err := hclstrconv.Unquote(tok.Text)
	if err != nil {
		return "", fmt.Errorf("the string %s cannot be read: check its escapes", Clip(tok.Text))
	}
	return s, nil
}

// Literal returns n's token if n is a single literal: a string, heredoc, number or bool.
func Literal(n ast.Node) (token.Token, bool) {
	lit, ok := n.(*ast.LiteralType)
	if !ok {
		return token.Token{}, false
	}
	return lit.Token, true
}

// StringOf returns the value of a string or heredoc token; ok is false for other tokens.
func StringOf(tok token.Token) (s string, ok bool, err error) {
	switch tok.Type {
	case token.STRING:
		s, err = unquote(tok)
		return s, true, err
	case token.HEREDOC:
		s, err = heredoc(tok)
		return s, true, err
	}
	return "", false, nil
}

// heredoc returns the text of a <<EOF ... EOF string. token.Value panics on a malformed
// heredoc; the scanner does not let one through, but a panic here would end the agent.
func heredoc(tok token.Token) (s string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the heredoc cannot be read: %v", r)
		}
	}()
	s, _ = tok.Value().(string)
	return s, nil
}

// Kind names what a value is, for a message: "a string", "a list".
func Kind(n ast.Node) string {
	switch v := n.(type) {
	case *ast.ObjectType:
		return "an object"
	case *ast.ListType:
		return "a list"
	case *ast.LiteralType:
		switch v.Token.Type {
		case token.STRING, token.HEREDOC:
			return "a string"
		case token.NUMBER, token.FLOAT:
			return "a number"
		case token.BOOL:
			return "a bool"
		}
	}
	return "a value"
}

// Describe shows a literal as written, or says what kind of value n is, for a message.
func Describe(n ast.Node) string {
	if tok, ok := Literal(n); ok {
		return Clip(tok.Text)
	}
	return Kind(n)
}

// Suggest returns ` (did you mean "x"?)` when one of names is within two edits of name.
func Suggest(name string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if d := editDistance(name, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
