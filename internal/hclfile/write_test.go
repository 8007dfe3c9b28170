package hclfile

import "testing"

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"/run/t", `"/run/t"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\n\r\t", `"\n\r\t"`},
		{"\x01", `"\u0001"`},
		{"\xff", `"\xff"`},
		{"${x}", `"$\u007bx}"`},
		{"{x}", `"{x}"`},
		{"é", `"é"`},
		{"\U000E0001", `"\U000e0001"`},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
