package localapi

import "testing"

func TestParseStat(t *testing.T) {
	// Fields 25 onwards do not matter; a real line has 52.
	const rest = " S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 8 0 123456 1679237120 2780 18446744073709551615 1 1 0"
	want := procStat{cpuTicks: 300, startTicks: 123456, vsize: 1679237120, rssPages: 2780}
	tests := []struct {
		name    string
		in      string
		want    procStat
		wantErr bool
	}{
		{"plain", "4242 (xauth-agent)" + rest, want, false},
		{"command with spaces and parentheses", "4242 (a) S (b c))" + rest, want, false},
		{"trailing newline", "4242 (x)" + rest + "\n", want, false},
		{"no command", "4242 x" + rest, procStat{}, true},
		{"truncated", "4242 (x) S 1 4242", procStat{}, true},
		{"not a number", "4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 abc 50 0 0 20 0 8 0 123456 1679237120 2780", procStat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("parseStat = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseBootTime(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{"cpu  1 2 3\nintr 5 0 0\nctxt 99\nbtime 1795615067\nprocesses 10\n", 1795615067, false},
		{"btime 12", 12, false},
		{"cpu 1\nbtimes 5\n", 0, true},
		{"btime x\n", 0, true},
	}
	for _, tt := range tests {
		got, err := parseBootTime([]byte(tt.in))
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseBootTime(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
