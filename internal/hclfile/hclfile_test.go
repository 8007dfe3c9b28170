package hclfile

import (
	"testing"

	"github.com/hashicorp/hcl/hcl/token"
)

// TestHeredocPanic checks that a heredoc token.Value would panic on becomes an error.
func TestHeredocPanic(t *testing.T) {
	for _, text := range []string{"<<EOF", "<<"} {
		if _, err := heredoc(token.Token{Type: token.HEREDOC, Text: text}); err == nil {
			t.Errorf("heredoc(%q): no error", text)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"address", "namespace", "ca_cert"}
	tests := []struct{ in, want string }{
		{"adress", ` (did you mean "address"?)`},
		{"namespce", ` (did you mean "namespace"?)`},
		{"cacert", ` (did you mean "ca_cert"?)`},
		{"role", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Suggest(tt.in, names); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
