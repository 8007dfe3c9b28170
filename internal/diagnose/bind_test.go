package diagnose

import (
	"strings"
	"testing"

	"github.com/xauth-agent/xauth-agent/internal/login"
)

func TestParsePrincipal(t *testing.T) {
	tests := []struct {
		arn       string
		want      Principal
		canonical string
		err       string
	}{
		{arn: "arn:aws:sts::222222222222:assumed-role/vault-secondary-x/i-0ba7ed0000000003",
			want:      Principal{Partition: "aws", Account: "222222222222", Type: "assumed-role", Name: "vault-secondary-x", Session: "i-0ba7ed0000000003"},
			canonical: "arn:aws:iam::222222222222:role/vault-secondary-x"},
		{arn: "arn:aws:iam::222222222222:role/team/sub/vault-secondary-x",
			want:      Principal{Partition: "aws", Account: "222222222222", Type: "role", Path: "team/sub", Name: "vault-secondary-x"},
			canonical: "arn:aws:iam::222222222222:role/vault-secondary-x"},
		{arn: "arn:aws-cn:iam::1:user/ops/bob",
			want:      Principal{Partition: "aws-cn", Account: "1", Type: "user", Path: "ops", Name: "bob"},
			canonical: "arn:aws-cn:iam::1:user/bob"},
		{arn: "arn:aws:iam::1:root", err: "no type/name"},
		{arn: "arn:aws:s3:::bucket/key", err: "neither iam nor sts"},
		{arn: "arn:aws:sts::1:assumed-role/r", err: "without a session"},
		{arn: "arn:aws:iam::1:group/g", err: `"group"`},
		{arn: "not-an-arn", err: "is not an ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.arn, func(t *testing.T) {
			p, err := ParsePrincipal(tt.arn)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p != tt.want {
				t.Errorf("got %+v, want %+v", p, tt.want)
			}
			if got := p.Canonical(); got != tt.canonical {
				t.Errorf("Canonical() = %q, want %q", got, tt.canonical)
			}
			if p.Type == "assumed-role" && p.Canonical() != login.DeriveRoleARN(tt.arn) {
				t.Errorf("Canonical() %q disagrees with login.DeriveRoleARN %q", p.Canonical(), login.DeriveRoleARN(tt.arn))
			}
		})
	}
}

// TestGlobbedMatch pins the go-secure-stdlib strutil.GlobbedStringsMatch
// semantics Vault uses.
func TestGlobbedMatch(t *testing.T) {
	tests := []struct {
		item, val string
		want      bool
	}{
		{"arn:aws:iam::1:role/vault*", "arn:aws:iam::1:role/vault-x", true},
		{"arn:aws:iam::1:role/vault*", "arn:aws:iam::1:role/team/vault-x", false},
		{"*vault*", "arn:aws:iam::1:role/team/vault-x", true},
		{"*vault-x", "arn:aws:iam::1:role/team/vault-x", true},
		{"arn:aws:iam::1:role/*/vault*", "arn:aws:iam::1:role/team/vault-x", false}, // inner * is literal
		{"arn:aws:iam::1:role/*/vault*", "arn:aws:iam::1:role/*/vault-x", true},
		{"*", "arn:aws:iam::1:role/x", false}, // a one-character pattern compares exactly
		{"*", "*", true},
		{"arn:aws:iam::1:role/x", "arn:aws:iam::1:role/x", true},
	}
	for _, tt := range tests {
		if got := globbedMatch(tt.item, tt.val); got != tt.want {
			t.Errorf("globbedMatch(%q, %q) = %v, want %v", tt.item, tt.val, got, tt.want)
		}
	}
}

func TestCheckBinding(t *testing.T) {
	const (
		acct     = "arn:aws:iam::222222222222:"
		canon    = acct + "role/vault-secondary-x"
		pathed   = acct + "role/team/vault-secondary-x"
		roleID   = "AROAINSTANCEROLE0003"
		otherID  = "AROAOTHERROLE0000001"
		client1  = acct + "role/vault-secondary-role1"
		client1I = "AROAINSTANCEROLE0001"
	)
	pathedCaller := Caller{UniqueID: roleID, Canonical: canon, FullARN: pathed}
	tests := []struct {
		name      string
		b         Binding
		c         Caller
		wantMatch bool
		wantBy    string   // substring
		wantWhy   []string // substrings of the failing patterns' explanations, in order
		approx    bool
	}{
		{
			name:      "wildcard prefix on a role without a path",
			b:         Binding{ARNs: []string{acct + "role/vault-secondary*"}, ResolveUniqueIDs: true},
			c:         Caller{UniqueID: client1I, Canonical: client1, FullARN: client1},
			wantMatch: true, wantBy: "wildcard",
		},
		{
			name:      "the path trap: role/name* against role/team/name",
			b:         Binding{ARNs: []string{acct + "role/vault-secondary*", acct + "role/secondary*"}, ResolveUniqueIDs: true},
			c:         pathedCaller,
			wantMatch: false,
			wantWhy:   []string{"matches the ARN without its IAM path", "does not start with"},
		},
		{
			name:      "the pathed role bound by its path",
			b:         Binding{ARNs: []string{acct + "role/team/vault-secondary*"}, ResolveUniqueIDs: true},
			c:         pathedCaller,
			wantMatch: true, wantBy: "wildcard",
		},
		{
			name:      "leading and trailing star: substring",
			b:         Binding{ARNs: []string{"*vault-secondary*"}, ResolveUniqueIDs: true},
			c:         pathedCaller,
			wantMatch: true,
		},
		{
			name:    "a star in the middle is literal",
			b:       Binding{ARNs: []string{acct + "role/*/vault-secondary*"}, ResolveUniqueIDs: true},
			c:       pathedCaller,
			wantWhy: []string{"only a trailing * is a wildcard"},
		},
		{
			name:    "a lone star matches nothing",
			b:       Binding{ARNs: []string{"*"}, ResolveUniqueIDs: true},
			c:       pathedCaller,
			wantWhy: []string{"a lone * matches nothing"},
		},
		{
			name:    "case matters",
			b:       Binding{ARNs: []string{acct + "role/Vault-Secondary*"}, ResolveUniqueIDs: true},
			c:       Caller{UniqueID: client1I, Canonical: client1, FullARN: client1},
			wantWhy: []string{"only in case"},
		},
		{
			name:    "another account",
			b:       Binding{ARNs: []string{"arn:aws:iam::111111111111:role/vault-secondary*"}, ResolveUniqueIDs: true},
			c:       Caller{UniqueID: client1I, Canonical: client1, FullARN: client1},
			wantWhy: []string{"another account"},
		},
		{
			name:      "exact ARN resolved to the caller's unique ID, whatever the path",
			b:         Binding{ARNs: []string{canon}, IDs: []string{roleID}, ResolveUniqueIDs: true},
			c:         pathedCaller,
			wantMatch: true, wantBy: "unique ID " + roleID,
		},
		{
			name:    "exact ARN resolved to an old unique ID: the role was re-created",
			b:       Binding{ARNs: []string{canon}, IDs: []string{otherID}, ResolveUniqueIDs: true},
			c:       pathedCaller,
			wantWhy: []string{"deleted and re-created", "write the Vault role again"},
		},
		{
			name:    "exact ARN of another principal",
			b:       Binding{ARNs: []string{client1}, IDs: []string{client1I}, ResolveUniqueIDs: true},
			c:       pathedCaller,
			wantWhy: []string{"names another principal"},
		},
		{
			name:      "no resolution: the canonical ARN, without the path, binds",
			b:         Binding{ARNs: []string{canon}, ResolveUniqueIDs: false},
			c:         pathedCaller,
			wantMatch: true, wantBy: "canonical ARN",
		},
		{
			name:    "no resolution: the full ARN with its path does not bind",
			b:       Binding{ARNs: []string{pathed}, ResolveUniqueIDs: false},
			c:       pathedCaller,
			wantWhy: []string{"drops the path: bind " + canon},
		},
		{
			name:      "mixed: exact IDs plus wildcards, the wildcard admits",
			b:         Binding{ARNs: []string{client1, acct + "role/team/*"}, IDs: []string{client1I}, ResolveUniqueIDs: true},
			c:         pathedCaller,
			wantMatch: true, wantBy: "role/team/*",
		},
		{
			name:      "full ARN unknown: wildcards are checked against the canonical ARN",
			b:         Binding{ARNs: []string{acct + "role/team/vault*"}, ResolveUniqueIDs: true},
			c:         Caller{UniqueID: roleID, Canonical: canon},
			wantMatch: false, approx: true,
			wantWhy: []string{"full ARN, with any IAM path, is unknown"},
		},
		{
			name:      "no patterns: nothing to bind",
			b:         Binding{ResolveUniqueIDs: true},
			c:         pathedCaller,
			wantMatch: true, wantBy: "no bound_iam_principal_arn",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := CheckBinding(tt.b, tt.c)
			if v.Match != tt.wantMatch {
				t.Fatalf("Match = %v, want %v: %+v", v.Match, tt.wantMatch, v)
			}
			if !strings.Contains(v.By, tt.wantBy) {
				t.Errorf("By = %q, want it to contain %q", v.By, tt.wantBy)
			}
			if v.Approximate != tt.approx {
				t.Errorf("Approximate = %v, want %v", v.Approximate, tt.approx)
			}
			if len(v.Patterns) != len(tt.b.ARNs) {
				t.Fatalf("%d pattern verdicts for %d patterns", len(v.Patterns), len(tt.b.ARNs))
			}
			var whys []string
			for _, p := range v.Patterns {
				if p.Why == "" {
					t.Errorf("pattern %s has no explanation", p.Pattern)
				}
				if !p.Match {
					whys = append(whys, p.Why)
				}
			}
			all := strings.Join(whys, "\n")
			for _, w := range tt.wantWhy {
				if !strings.Contains(all, w) {
					t.Errorf("explanations lack %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestCompareRegion(t *testing.T) {
	tests := []struct {
		name, server string
		fromClient   bool
		signed       string
		ok           bool
		want         []string
	}{
		{"default server, us-east-1", "", false, "us-east-1", true, []string{"https://sts.amazonaws.com (region us-east-1)"}},
		{"default server, other region", "", false, "us-west-2", false, []string{"takes only region us-east-1", "signs for us-west-2"}},
		{"regional server, same region", "https://sts.eu-west-1.amazonaws.com", false, "eu-west-1", true, nil},
		{"regional server, other region", "https://sts.eu-west-1.amazonaws.com", false, "us-east-1", false, []string{"region eu-west-1", `sts_region = "eu-west-1"`, "use_sts_region_from_client"}},
		{"vpc endpoint", "https://vpce-0a1b-c2d3.sts.eu-central-1.vpce.amazonaws.com", false, "eu-west-1", false, []string{"eu-central-1"}},
		{"region from the client", "https://sts.eu-west-1.amazonaws.com", true, "us-west-2", true, []string{"use_sts_region_from_client=true"}},
		{"unknown host", "http://127.0.0.1:9999", false, "us-west-2", true, []string{"does not tell", "Host sts.amazonaws.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compareRegion(tt.server, tt.fromClient, tt.signed, "https://sts.amazonaws.com", "aws")
			ok, saw, fix := c.ok, c.saw, c.fix
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v: %s", ok, tt.ok, saw)
			}
			if !ok && fix == "" {
				t.Error("a mismatch without a fix")
			}
			for _, w := range tt.want {
				if !strings.Contains(saw+"\n"+fix, w) {
					t.Errorf("lacks %q:\n%s\n%s", w, saw, fix)
				}
			}
		})
	}
}

func TestCompareHeader(t *testing.T) {
	tests := []struct {
		server, agent string
		ok            bool
		want          string
	}{
		{"", "", true, "checks none"},
		{"", "x", true, "Vault ignores"},
		{"vault.example", "", false, "sends none"},
		{"vault.example", "Vault.example", false, `expects "vault.example", this agent is configured with "Vault.example"`},
		{"vault.example", "vault.example", true, "sends it"},
	}
	for _, tt := range tests {
		c := compareHeader(tt.server, tt.agent, "aws")
		ok, saw, fix := c.ok, c.saw, c.fix
		if ok != tt.ok || !strings.Contains(saw, tt.want) {
			t.Errorf("compareHeader(%q, %q) = %v, %q", tt.server, tt.agent, ok, saw)
		}
		if !ok && !strings.Contains(fix, `header_value = "`+tt.server+`"`) {
			t.Errorf("fix %q does not give the value to set", fix)
		}
	}
}
