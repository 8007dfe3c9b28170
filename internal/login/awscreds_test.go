package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

// isolateAWS unsets every AWS_* variable, makes HOME a temp dir, points the
// shared files into it (the SDK computes their default paths from HOME once,
// when the process starts), sends IMDS to a closed loopback port and every
// AWS service endpoint to another, so no test reads a developer's ~/.aws or
// reaches AWS. It returns HOME.
func isolateAWS(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restored after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, ".aws", "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, ".aws", "credentials"))
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	return home
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o700); err != nil {
		t.Fatal(err)
	}
}

func iamAuth() config.Auth { return config.Auth{Type: "iam"} }

// IMDS answers of the fake instance role.
const (
	imdsRole   = "web-role"
	imdsKeyID  = "ASIAIMDSROLE00000001"
	imdsSecret = "imds-secret"
	imdsToken  = "imds-session"
	imdsRegion = "ap-south-1"
)

// imdsRoleServer is an IMDS on 127.0.0.1 that serves the instance role's
// credentials and the identity document (its region): through IMDSv2 (PUT
// /latest/api/token first), or, with v1Only, refusing the token (403, as an
// instance that predates IMDSv2) and answering without one. It counts the
// requests it gets.
func imdsRoleServer(t *testing.T, v1Only bool) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			if v1Only {
				http.Error(w, "", http.StatusForbidden)
				return
			}
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			_, _ = io.WriteString(w, "imds-token")
			return
		}
		if !v1Only && r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-token" {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/latest/meta-data/iam/security-credentials/":
			_, _ = io.WriteString(w, imdsRole)
		case "/latest/meta-data/iam/security-credentials/" + imdsRole:
			_ = json.NewEncoder(w).Encode(map[string]string{
				"Code": "Success", "LastUpdated": "2026-01-01T00:00:00Z", "Type": "AWS-HMAC",
				"AccessKeyId": imdsKeyID, "SecretAccessKey": imdsSecret, "Token": imdsToken,
				"Expiration": time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339),
			})
		case "/latest/dynamic/instance-identity/document":
			_ = json.NewEncoder(w).Encode(map[string]string{"region": imdsRegion, "instanceId": "i-0123456789abcdef0"})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// stsCall is one request the STS fake got.
type stsCall struct {
	form   url.Values
	scope  string // the Authorization header's credential scope: KEY/date/region/service
	signed bool
}

// stsServer is an STS endpoint on 127.0.0.1 that answers AssumeRole with
// credentials expiring after lifetime, or with the error code deny when it
// is set. It records every request.
type stsServer struct {
	URL      string
	lifetime time.Duration
	deny     string
	mu       sync.Mutex
	calls    []stsCall
}

var reScopeOf = regexp.MustCompile(`Credential=([^,]+)/aws4_request`)

func newSTSServer(t *testing.T, lifetime time.Duration) *stsServer {
	t.Helper()
	s := &stsServer{lifetime: lifetime}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		c := stsCall{form: r.PostForm}
		if m := reScopeOf.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			c.scope, c.signed = m[1], true
		}
		s.mu.Lock()
		s.calls = append(s.calls, c)
		deny := s.deny
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		if deny != "" {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>User: arn:aws:iam::111111111111:user/base is not authorized to perform: sts:AssumeRole on resource: %s</Message></Error><RequestId>1</RequestId></ErrorResponse>`,
				deny, r.PostForm.Get("RoleArn"))
			return
		}
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<AssumedRoleUser><Arn>arn:aws:sts::222222222222:assumed-role/vault-client/%s</Arn><AssumedRoleId>AROACLIENT:%[1]s</AssumedRoleId></AssumedRoleUser>
<Credentials><AccessKeyId>ASIAASSUMED%04d</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-session</SessionToken><Expiration>%s</Expiration></Credentials>
</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			r.PostForm.Get("RoleSessionName"), len(s.calls), time.Now().Add(s.lifetime).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *stsServer) Calls() []stsCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stsCall(nil), s.calls...)
}

// The agent hands credential resolution to the AWS SDK: these pin that the
// chain LoadAWS returns is the SDK's, with its source names (which the logs
// and diagnose show), not which source wins (the SDK's business).
func TestLoadAWSIsTheSDKChain(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, home string)
		source string // prefix of aws.Credentials.Source
	}{
		{"environment", func(t *testing.T, _ string) {
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
		}, "EnvConfigCredentials"},
		{"shared credentials file", func(t *testing.T, home string) {
			writeFile(t, filepath.Join(home, ".aws", "credentials"), "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = file-secret\n")
		}, "SharedConfigCredentials: "},
		{"credential_process", func(t *testing.T, home string) {
			script := filepath.Join(home, "creds.sh")
			writeFile(t, script, "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC\", \"SecretAccessKey\": \"proc-secret\"}'\n")
			writeFile(t, filepath.Join(home, ".aws", "config"), "[default]\ncredential_process = "+script+"\n")
		}, "ProcessProvider"},
		{"instance role", func(t *testing.T, _ string) {
			url, _ := imdsRoleServer(t, false)
			t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
		}, "EC2RoleProvider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup(t, isolateAWS(t))
			a, err := LoadAWS(context.Background(), iamAuth())
			if err != nil {
				t.Fatal(err)
			}
			c, err := a.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(c.Source, tt.source) {
				t.Errorf("source %q, want %q", c.Source, tt.source)
			}
			if a.AssumeRole != nil {
				t.Error("a role is assumed without assume_role_arn")
			}
		})
	}
}

// imds_v2_only turns the IMDSv1 fallback off for the instance role and the
// ec2 type's IMDS client; without it the SDK falls back.
func TestLoadAWSIMDSv2Only(t *testing.T) {
	for _, v2Only := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2Only=%v", v2Only), func(t *testing.T) {
			isolateAWS(t)
			url, calls := imdsRoleServer(t, true)
			t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
			a, err := LoadAWS(context.Background(), config.Auth{Type: "iam", IMDSv2Only: v2Only})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Credentials.Retrieve(context.Background())
			if v2Only != (err != nil) {
				t.Errorf("credentials from an IMDSv1-only instance: %v (v2Only %v)", err, v2Only)
			}
			if err != nil && !errors.Is(err, failure.Credentials) {
				t.Errorf("error %v does not wrap failure.Credentials", err)
			}
			_, err = a.IMDS.GetMetadata(context.Background(), &imds.GetMetadataInput{Path: "iam/security-credentials/"})
			if v2Only != (err != nil) {
				t.Errorf("IMDS client on an IMDSv1-only instance: %v (v2Only %v)", err, v2Only)
			}
			if calls.Load() == 0 {
				t.Error("the IMDS at AWS_EC2_METADATA_SERVICE_ENDPOINT got no request")
			}
		})
	}
}

// The IMDS client is made from the loaded configuration: it follows the
// profile's ec2_metadata_service_endpoint, for the instance role and for
// the ec2 type alike.
func TestLoadAWSIMDSFromProfile(t *testing.T) {
	for _, typ := range []string{"iam", "ec2"} {
		t.Run(typ, func(t *testing.T) {
			home := isolateAWS(t)
			os.Unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
			url, calls := imdsRoleServer(t, false)
			writeFile(t, filepath.Join(home, ".aws", "config"), "[default]\nec2_metadata_service_endpoint = "+url+"\n")
			a, err := LoadAWS(context.Background(), config.Auth{Type: typ, IMDSv2Only: true})
			if err != nil {
				t.Fatal(err)
			}
			if typ == "iam" {
				if _, err := a.Credentials.Retrieve(context.Background()); err != nil {
					t.Fatal(err)
				}
			} else if _, err := a.IMDS.GetMetadata(context.Background(), &imds.GetMetadataInput{Path: "iam/security-credentials/"}); err != nil {
				t.Fatal(err)
			}
			if calls.Load() == 0 {
				t.Error("the profile's IMDS endpoint got no request")
			}
		})
	}
}

func TestAssumeRole(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIABASE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
	t.Setenv("AWS_REGION", "eu-west-1")
	sts := newSTSServer(t, time.Hour)
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	auth := iamAuth()
	// The signing target is another region: the STS client does not follow it.
	auth.STSRegion, auth.STSEndpoint = "us-east-1", "https://sts.amazonaws.com"
	auth.AssumeRole = config.AssumeRole{ARN: "arn:aws:iam::222222222222:role/vault-client", ExternalID: "ext-42", SessionName: "web-1", Duration: time.Hour}
	a, err := LoadAWS(context.Background(), auth)
	if err != nil {
		t.Fatal(err)
	}
	if r := a.AssumeRole; r == nil || r.Region != "eu-west-1" || r.Endpoint != sts.URL || r.ARN != auth.AssumeRole.ARN {
		t.Fatalf("AssumeRole = %+v, want region eu-west-1 and endpoint %s", r, sts.URL)
	}
	for range 3 {
		c, err := a.Credentials.Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.Source != "AssumeRoleProvider" || c.AccessKeyID != "ASIAASSUMED0001" || !c.CanExpire {
			t.Fatalf("credentials %s from %s (expire %v), want the assumed role's", c.AccessKeyID, c.Source, c.CanExpire)
		}
	}
	calls := sts.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRole calls for three retrievals of credentials valid for an hour, want 1 (cached)", len(calls))
	}
	f := calls[0].form
	want := map[string]string{"Action": "AssumeRole", "RoleArn": auth.AssumeRole.ARN, "ExternalId": "ext-42", "RoleSessionName": "web-1", "DurationSeconds": "3600"}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, f.Get(k), v)
		}
	}
	if !calls[0].signed || !strings.HasPrefix(calls[0].scope, "AKIABASE/") || !strings.HasSuffix(calls[0].scope, "/eu-west-1/sts") {
		t.Errorf("AssumeRole signed with scope %q, want AKIABASE's keys for eu-west-1/sts (AWS_REGION, not sts_region)", calls[0].scope)
	}
}

// Assumed credentials are renewed before they expire: within the expiry
// window every retrieval assumes the role again.
func TestAssumeRoleRenewsBeforeExpiry(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIABASE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
	t.Setenv("AWS_REGION", "eu-west-1")
	sts := newSTSServer(t, assumedExpiryWindow-time.Minute)
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	auth := iamAuth()
	auth.AssumeRole = config.AssumeRole{ARN: "arn:aws:iam::222222222222:role/vault-client", Duration: config.DefaultAssumeRoleDuration}
	a, err := LoadAWS(context.Background(), auth)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := a.Credentials.Retrieve(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	calls := sts.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d AssumeRole calls, want 2: credentials inside the expiry window are not used again", len(calls))
	}
	if got := calls[0].form.Get("RoleSessionName"); got != defaultSessionName() || !strings.HasPrefix(got, "xauth-agent-") {
		t.Errorf("default session name %q, want xauth-agent-<hostname>", got)
	}
	if got := calls[0].form.Get("DurationSeconds"); got != "900" {
		t.Errorf("DurationSeconds %q, want 900", got)
	}
}

// Without a region for the STS client, the instance's region from IMDS is
// used; without either, LoadAWS says to set AWS_REGION.
func TestAssumeRoleRegion(t *testing.T) {
	auth := iamAuth()
	auth.AssumeRole = config.AssumeRole{ARN: "arn:aws:iam::222222222222:role/vault-client", Duration: time.Hour}
	t.Run("from IMDS", func(t *testing.T) {
		isolateAWS(t)
		url, _ := imdsRoleServer(t, false)
		t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
		sts := newSTSServer(t, time.Hour)
		t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
		a, err := LoadAWS(context.Background(), auth)
		if err != nil {
			t.Fatal(err)
		}
		if a.AssumeRole.Region != imdsRegion {
			t.Errorf("region %q, want the instance's %q", a.AssumeRole.Region, imdsRegion)
		}
		if _, err := a.Credentials.Retrieve(context.Background()); err != nil {
			t.Fatal(err)
		}
		if c := sts.Calls(); len(c) != 1 || !strings.HasPrefix(c[0].scope, imdsKeyID+"/") || !strings.HasSuffix(c[0].scope, "/"+imdsRegion+"/sts") {
			t.Errorf("AssumeRole calls %+v, want one signed by the instance role for %s", c, imdsRegion)
		}
	})
	t.Run("none", func(t *testing.T) {
		isolateAWS(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIABASE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		_, err := LoadAWS(context.Background(), auth)
		if !errors.Is(err, failure.Credentials) || !strings.Contains(err.Error(), "set AWS_REGION") || !strings.Contains(err.Error(), auth.AssumeRole.ARN) {
			t.Fatalf("error %v, want one wrapping failure.Credentials that names the role and says to set AWS_REGION", err)
		}
	})
}

func TestDefaultSessionName(t *testing.T) {
	name := defaultSessionName()
	if len(name) < 2 || len(name) > 64 || !regexp.MustCompile(`^xauth-agent-[\w+=,.@-]*$`).MatchString(name) || strings.HasSuffix(name, "-") && name != "xauth-agent-" {
		t.Errorf("defaultSessionName() = %q: not a role session name STS accepts", name)
	}
}

// The SDK's failures come back wrapping failure.Credentials, with the SDK's
// message and a fix that fits, and without a secret.
func TestCredentialsErrors(t *testing.T) {
	const secret = "SECRETprocessOUTPUT1234"
	tests := []struct {
		name    string
		setup   func(t *testing.T, home string) config.Auth
		loadErr bool     // LoadAWS fails, rather than Retrieve
		want    []string // in the error
	}{
		{"named profile missing", func(t *testing.T, home string) config.Auth {
			t.Setenv("AWS_PROFILE", "nope")
			return iamAuth()
		}, true, []string{"nope", "fix: add [profile nope]"}},
		{"SSO session never started", func(t *testing.T, home string) config.Auth {
			t.Setenv("AWS_PROFILE", "dev")
			writeFile(t, filepath.Join(home, ".aws", "config"), "[profile dev]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = Dev\n"+
				"[sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://corp.awsapps.com/start\n")
			return iamAuth()
		}, false, []string{"SSO token", "fix: ", "aws sso login --profile dev"}},
		{"SSO token expired", func(t *testing.T, home string) config.Auth {
			t.Setenv("AWS_PROFILE", "dev")
			writeFile(t, filepath.Join(home, ".aws", "config"), "[profile dev]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = Dev\n"+
				"[sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://corp.awsapps.com/start\n")
			// The cache file of session "corp": ~/.aws/sso/cache/sha1("corp").json.
			writeFile(t, filepath.Join(home, ".aws", "sso", "cache", "ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
				`{"accessToken": "sso-access-token", "expiresAt": "2020-01-01T00:00:00Z", "region": "us-east-1", "startUrl": "https://corp.awsapps.com/start"}`)
			return iamAuth()
		}, false, []string{"expired", "aws sso login --profile dev"}},
		{"credential_process fails", func(t *testing.T, home string) config.Auth {
			writeFile(t, filepath.Join(home, ".aws", "config"), "[default]\ncredential_process = sh -c 'exit 3'\n")
			return iamAuth()
		}, false, []string{"exit status 3", "fix: run the profile's credential_process"}},
		{"credential_process prints something else", func(t *testing.T, home string) config.Auth {
			writeFile(t, filepath.Join(home, ".aws", "config"), "[default]\ncredential_process = echo "+secret+"\n")
			return iamAuth()
		}, false, []string{"not the JSON the SDK expects", "fix: run the profile's credential_process"}},
		{"web identity token file unreadable", func(t *testing.T, home string) config.Auth {
			t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", filepath.Join(home, "no-such-token"))
			t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::222222222222:role/web")
			t.Setenv("AWS_REGION", "us-east-1")
			return iamAuth()
		}, false, []string{"no-such-token", "fix: make the web identity token file"}},
		{"no region for a profile's role_arn", func(t *testing.T, home string) config.Auth {
			writeFile(t, filepath.Join(home, ".aws", "config"), "[default]\nrole_arn = arn:aws:iam::222222222222:role/deploy\nsource_profile = base\n"+
				"[profile base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n")
			return iamAuth()
		}, false, []string{"Missing Region", "fix: set AWS_REGION"}},
		{"MFA", func(t *testing.T, home string) config.Auth {
			writeFile(t, filepath.Join(home, ".aws", "config"), "[default]\nrole_arn = arn:aws:iam::222222222222:role/deploy\nsource_profile = base\nmfa_serial = arn:aws:iam::222222222222:mfa/bob\n"+
				"[profile base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n")
			return iamAuth()
		}, true, []string{"MFA", "fix: the agent cannot ask for an MFA code"}},
		{"IMDS accepts the token PUT and never answers it", func(t *testing.T, home string) config.Auth {
			stop := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select { // a hop limit of 1 drops the answer: the client sees nothing
				case <-stop:
				case <-r.Context().Done():
				}
			}))
			t.Cleanup(func() { close(stop); srv.Close() })
			t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)
			return iamAuth()
		}, false, []string{"deadline exceeded", "fix: IMDS did not answer in time", "--http-put-response-hop-limit 2"}},
		{"IMDS disabled and nothing else", func(t *testing.T, home string) config.Auth {
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			return iamAuth()
		}, false, []string{"fix: AWS_EC2_METADATA_DISABLED=true turns the instance role off"}},
		{"assume_role_arn refused", func(t *testing.T, home string) config.Auth {
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIABASE")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
			t.Setenv("AWS_REGION", "eu-west-1")
			sts := newSTSServer(t, time.Hour)
			sts.deny = "AccessDenied"
			t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
			a := iamAuth()
			a.AssumeRole = config.AssumeRole{ARN: "arn:aws:iam::222222222222:role/vault-client", Duration: time.Hour}
			return a
		}, false, []string{"is not authorized to perform: sts:AssumeRole", "fix: the role's trust policy must allow the caller named above to call sts:AssumeRole"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := tt.setup(t, isolateAWS(t))
			a, err := LoadAWS(context.Background(), auth)
			if err == nil {
				if tt.loadErr {
					t.Fatal("LoadAWS: no error")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, err = a.Credentials.Retrieve(ctx)
			} else if !tt.loadErr {
				t.Fatalf("LoadAWS: %v", err)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, failure.Credentials) {
				t.Errorf("error %v does not wrap failure.Credentials", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if n := strings.Count(msg, "\nfix: "); n != 1 || strings.Contains(msg[strings.Index(msg, "\nfix: ")+1:], "\n") {
				t.Errorf("want one one-line fix at the end:\n%s", msg)
			}
			for _, s := range []string{secret, "base-secret", "sso-access-token"} {
				if strings.Contains(msg, s) {
					t.Errorf("error shows the secret %q:\n%s", s, msg)
				}
			}
		})
	}
}

// A failure that is not the SDK's own (a Login that gets it from another
// provider) is wrapped once, and keeps what it wraps.
func TestCredentialsErrorWrapsOnce(t *testing.T) {
	base := errors.New("boom")
	err := credentialsError(base, chain{profile: "default"})
	if !errors.Is(err, failure.Credentials) || !errors.Is(err, base) {
		t.Fatalf("%v does not wrap both failure.Credentials and the SDK's error", err)
	}
	if strings.Count(err.Error(), failure.Credentials.Error()) != 1 {
		t.Errorf("%q names failure.Credentials more than once", err)
	}
}
