// Package systemd_test checks that the files in deploy/systemd agree with the agent: the
// example config must load. scripts/check-units.sh checks the units themselves.
package systemd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/config"
)

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := config.Load("agent.hcl.example", nil, config.Overrides{})
	if err != nil {
		t.Fatalf("agent.hcl.example does not load: %v", err)
	}
	if len(cfg.Sinks) == 0 {
		t.Fatal("agent.hcl.example has no sink")
	}
	for _, s := range cfg.Sinks {
		if !strings.HasPrefix(s.Path, "/run/xauth-agent/") {
			t.Errorf("sink %q is outside the units' RuntimeDirectory /run/xauth-agent", s.Path)
		}
	}
	// The lifecycle block shows the defaults.
	want := config.Lifecycle{MinBackoff: time.Second, MaxBackoff: 5 * time.Minute}
	if cfg.Lifecycle != want {
		t.Errorf("lifecycle = %+v, want the defaults %+v", cfg.Lifecycle, want)
	}
	for _, w := range cfg.Warnings {
		t.Logf("warning: %s", w)
	}
}
