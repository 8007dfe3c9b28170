package awsname

import (
	"regexp"
	"strings"
	"testing"
)

func TestSTSHostRegion(t *testing.T) {
	tests := []struct {
		host, region string
		ok           bool
	}{
		{"sts.amazonaws.com", "us-east-1", true},
		{"STS.AMAZONAWS.COM", "us-east-1", true},
		{"sts.eu-west-1.amazonaws.com", "eu-west-1", true},
		{"sts-fips.us-east-2.amazonaws.com", "us-east-2", true},
		{"sts.cn-north-1.amazonaws.com.cn", "cn-north-1", true},
		{"vpce-0a1b-c2d3.sts.eu-west-1.vpce.amazonaws.com", "eu-west-1", true},
		{"127.0.0.1", "", false},
		{"sts.example.com", "", false},
	}
	for _, tt := range tests {
		if region, ok := STSHostRegion(tt.host); region != tt.region || ok != tt.ok {
			t.Errorf("STSHostRegion(%q) = %q, %v; want %q, %v", tt.host, region, ok, tt.region, tt.ok)
		}
	}
}

func TestSTSEndpoint(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":  "https://sts.amazonaws.com",
		"eu-west-1":  "https://sts.eu-west-1.amazonaws.com",
		"cn-north-1": "https://sts.cn-north-1.amazonaws.com.cn",
	} {
		if got := STSEndpoint(region); got != want {
			t.Errorf("STSEndpoint(%q) = %q, want %q", region, got, want)
		}
		// The endpoint takes signatures for the region it was made for.
		if got, ok := STSHostRegion(strings.TrimPrefix(STSEndpoint(region), "https://")); !ok || got != region {
			t.Errorf("STSHostRegion(STSEndpoint(%q)) = %q, %v", region, got, ok)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		is   func(string) bool
		s    string
		want bool
	}{
		{"region", IsRegion, "us-gov-west-1", true},
		{"region", IsRegion, "useast1", false},
		{"role ARN", IsRoleARN, "arn:aws:iam::222222222222:role/vault-secondary-role1", true},
		{"role ARN with a path", IsRoleARN, "arn:aws-cn:iam::222222222222:role/team/app/r", true},
		{"user ARN", IsRoleARN, "arn:aws:iam::222222222222:user/u", false},
		{"short account", IsRoleARN, "arn:aws:iam::2222:role/r", false},
		{"role name too long", IsRoleARN, "arn:aws:iam::222222222222:role/" + strings.Repeat("r", 65), false},
		{"role name with a space", IsRoleARN, "arn:aws:iam::222222222222:role/a b", false},
		{"session name", IsRoleSessionName, "xauth-agent-ip-10-0-0-1", true},
		{"session name of one character", IsRoleSessionName, "x", false},
		{"session name with a colon", IsRoleSessionName, "a:b", false},
		{"external ID", IsExternalID, "tenant:42/a", true},
		{"external ID with a space", IsExternalID, "a b", false},
		{"external ID too long", IsExternalID, strings.Repeat("x", 1225), false},
	}
	for _, tt := range tests {
		if got := tt.is(tt.s); got != tt.want {
			t.Errorf("%s %q: got %v, want %v", tt.name, tt.s, got, tt.want)
		}
	}
}

func TestIAMEndpoint(t *testing.T) {
	if e, r := IAMEndpoint("aws"); e != "https://iam.amazonaws.com/" || r != "us-east-1" {
		t.Errorf("aws: %s %s", e, r)
	}
	if e, r := IAMEndpoint("aws-cn"); e != "https://iam.cn-north-1.amazonaws.com.cn/" || r != "cn-north-1" {
		t.Errorf("aws-cn: %s %s", e, r)
	}
}

// The grammars IsRegion and STSHostRegion implement, as regular expressions: the tests hold
// the hand-written checks to them.
var (
	regionRE          = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	regionalSTSHostRE = regexp.MustCompile(`^(?:[a-z0-9-]+\.)?sts(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$`)
)

// FuzzNamesAsRegexps checks that IsRegion and STSHostRegion agree with the regular expressions
// on every input.
func FuzzNamesAsRegexps(f *testing.F) {
	for _, s := range []string{"us-east-1", "us-gov-west-1", "u-east-1", "us--1", "us-east-", "US-east-1", "us-east-1a",
		"sts.amazonaws.com", "sts.eu-west-1.amazonaws.com", "sts-fips.us-east-2.amazonaws.com", "sts.cn-north-1.amazonaws.com.cn",
		"vpce-0a1b-c2d3.sts.eu-west-1.vpce.amazonaws.com", "a.b.sts.eu-west-1.amazonaws.com", ".sts.eu-west-1.amazonaws.com",
		"sts.eu-west-1.vpce.amazonaws.com.cn", "sts.eu-west-1.vpce.vpce.amazonaws.com", "x_y.sts.eu-west-1.amazonaws.com", "STS.EU-WEST-1.AMAZONAWS.COM"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := IsRegion(s), regionRE.MatchString(s); got != want {
			t.Fatalf("IsRegion(%q) = %v, the expression says %v", s, got, want)
		}
		wantRegion, wantOK := "", false
		if lower := strings.ToLower(s); lower == "sts.amazonaws.com" {
			wantRegion, wantOK = "us-east-1", true
		} else if m := regionalSTSHostRE.FindStringSubmatch(lower); m != nil {
			wantRegion, wantOK = m[1], true
		}
		if region, ok := STSHostRegion(s); region != wantRegion || ok != wantOK {
			t.Fatalf("STSHostRegion(%q) = %q, %v; the expression says %q, %v", s, region, ok, wantRegion, wantOK)
		}
	})
}
