package ids

import (
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		resolve func(string) (int, error)
		in      string
		want    int
		wantErr string
	}{
		{"unset owner", UID, "", -1, ""},
		{"unset group", GID, "", -1, ""},
		{"numeric uid", UID, "1000", 1000, ""},
		{"root by name", UID, "root", 0, ""},
		{"root group by name", GID, "root", 0, ""},
		{"chown's unchanged", UID, "4294967295", 0, "out of range"},
		{"beyond int64", GID, "99999999999999999999", 0, "out of range"},
		{"unknown user", UID, "no-such-user-xauth", 0, "no such user on this host"},
		{"unknown group", GID, "no-such-group-xauth", 0, "no such group on this host"},
	}
	for _, tt := range tests {
		got, err := tt.resolve(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("%s: %q gives %d, %v; want %d", tt.name, tt.in, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: %q gives %d, %v; want an error with %q", tt.name, tt.in, got, err, tt.wantErr)
		}
	}
}

func TestCheck(t *testing.T) {
	for id, ok := range map[int]bool{-1: false, 0: true, Max: true, Max + 1: false} {
		if err := Check(id); (err == nil) != ok {
			t.Errorf("Check(%d) = %v", id, err)
		}
	}
}
