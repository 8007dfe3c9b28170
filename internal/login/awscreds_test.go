package login

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/xauth-agent/xauth-agent/internal/failure"
)

// chainEnv is every variable the credential chain reads.
var chainEnv = []string{
	envAccessKeyID, envAccessKey, envSecretAccessKey, envSecretKey, envSessionToken, envAccountID,
	envProfile, envDefaultProfile, envCredentialsFile, envConfigFile,
	envWebIdentityTokenFile, envRoleARN,
	envContainerRelativeURI, envContainerFullURI, envContainerToken, envContainerTokenFile,
	envIMDSEndpoint, envIMDSEndpointMode, envIMDSV1Disabled, "AWS_EC2_METADATA_DISABLED",
}

// isolateAWS unsets the chain's variables, makes HOME a temp dir (so no
// developer's ~/.aws is read) and points IMDS at a closed loopback port (so
// nothing reaches 169.254.169.254). It returns HOME.
func isolateAWS(t *testing.T) string {
	t.Helper()
	for _, k := range chainEnv {
		t.Setenv(k, "") // restored after the test
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(envIMDSEndpoint, "http://127.0.0.1:1")
	return home
}

// IMDS answers of the fake instance role.
const (
	imdsRole   = "web-role"
	imdsKeyID  = "ASIAIMDSROLE00000001"
	imdsSecret = "imds-secret"
	imdsToken  = "imds-session"
)

// imdsRoleServer is an IMDS on 127.0.0.1 that serves the instance role's
// credentials: through IMDSv2 (PUT /latest/api/token first), or, with
// v1Only, refusing the token (403, as an instance that predates IMDSv2)
// and answering without one. It counts the requests it gets.
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
			if r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") == "" {
				http.Error(w, "", http.StatusBadRequest)
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
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// containerServer is a container credentials endpoint on 127.0.0.1 that
// wants the Authorization header token.
func containerServer(t *testing.T, token string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/creds" || r.Header.Get("Authorization") != token {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"code":"Unauthorized","message":"bad token"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": "ASIACONTAINER0000001", "SecretAccessKey": "container-secret", "Token": "container-session",
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestAWSCredentialsChain(t *testing.T) {
	const (
		credsDefault = "[default]\naws_access_key_id = AKIAPROFILEDEFAULT01\naws_secret_access_key = profile-secret\n"
	)
	tests := []struct {
		name        string
		env         map[string]string // {home}, {imds}, {container} are replaced
		credentials string            // ~/.aws/credentials; "" for none
		config      string            // ~/.aws/config; "" for none
		extra       map[string]string // more files: path ({home} replaced) -> text
		imds        string            // "v2", "v1" (no token), or "" for none
		v2Only      bool

		wantKey, wantSource, wantToken string
		wantErr                        []string // AWSCredentials fails, naming these
		wantRetrieveErr                []string // Retrieve fails, naming these
		wantNoIMDSCall                 bool
	}{
		// 1. The environment.
		{name: "env pair", env: map[string]string{envAccessKeyID: "AKIAENV0000000000001", envSecretAccessKey: "env-secret", envSessionToken: "env-session"},
			wantKey: "AKIAENV0000000000001", wantSource: sourceEnv, wantToken: "env-session"},
		{name: "env aliases", env: map[string]string{envAccessKey: "AKIAALIAS00000000001", envSecretKey: "alias-secret"},
			wantKey: "AKIAALIAS00000000001", wantSource: sourceEnv},
		{name: "env: the full names beat the aliases", env: map[string]string{envAccessKeyID: "AKIAENV0000000000001", envSecretAccessKey: "env-secret",
			envAccessKey: "AKIAALIAS00000000001", envSecretKey: "alias-secret"},
			wantKey: "AKIAENV0000000000001", wantSource: sourceEnv},
		{name: "env: key ID without secret", env: map[string]string{envAccessKeyID: "AKIAENV0000000000001"},
			wantErr: []string{"AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY (or its alias AWS_SECRET_KEY) is not", "fix: export AWS_SECRET_ACCESS_KEY"}},
		{name: "env: secret alias without key ID", env: map[string]string{envSecretKey: "alias-secret"},
			wantErr: []string{"AWS_SECRET_KEY is set but AWS_ACCESS_KEY_ID (or its alias AWS_ACCESS_KEY) is not", "unset AWS_SECRET_KEY"}},
		{name: "env beats profile and IMDS", env: map[string]string{envAccessKeyID: "AKIAENV0000000000001", envSecretAccessKey: "env-secret"},
			credentials: credsDefault, imds: "v2", wantKey: "AKIAENV0000000000001", wantSource: sourceEnv, wantNoIMDSCall: true},
		{name: "env beats a named profile that does not exist", env: map[string]string{envAccessKeyID: "AKIAENV0000000000001", envSecretAccessKey: "env-secret", envProfile: "nope"},
			wantKey: "AKIAENV0000000000001", wantSource: sourceEnv},

		// 2. Web identity.
		{name: "web identity is refused", env: map[string]string{envWebIdentityTokenFile: "/var/run/secrets/token", envRoleARN: "arn:aws:iam::111122223333:role/r"},
			imds: "v2", wantErr: []string{"AWS_WEB_IDENTITY_TOKEN_FILE=/var/run/secrets/token and AWS_ROLE_ARN=arn:aws:iam::111122223333:role/r are set",
				"does not support web identity", "fix: on EC2, use the instance profile"}},
		{name: "web identity is refused before a profile", env: map[string]string{envWebIdentityTokenFile: "/var/run/secrets/token"},
			credentials: credsDefault, wantErr: []string{"AWS_WEB_IDENTITY_TOKEN_FILE=/var/run/secrets/token is set (web identity"}},
		{name: "env beats web identity", env: map[string]string{envAccessKeyID: "AKIAENV0000000000001", envSecretAccessKey: "env-secret", envWebIdentityTokenFile: "/t"},
			wantKey: "AKIAENV0000000000001", wantSource: sourceEnv},

		// 3. Profiles.
		{name: "default profile, credentials file", credentials: credsDefault, imds: "v2",
			wantKey: "AKIAPROFILEDEFAULT01", wantSource: sourceProfilePrefix + "{home}/.aws/credentials", wantNoIMDSCall: true},
		{name: "default profile, config file", config: "[default]\nregion = eu-west-1\naws_access_key_id = AKIACONFIGDEFAULT001\naws_secret_access_key = s\naws_session_token = t\n",
			wantKey: "AKIACONFIGDEFAULT001", wantSource: sourceProfilePrefix + "{home}/.aws/config", wantToken: "t"},
		{name: "AWS_PROFILE, credentials file", env: map[string]string{envProfile: "ops"},
			credentials: credsDefault + "[ops]\naws_access_key_id = AKIAOPS0000000000001\naws_secret_access_key = ops-secret\n",
			wantKey:     "AKIAOPS0000000000001", wantSource: sourceProfilePrefix + "{home}/.aws/credentials"},
		{name: "AWS_PROFILE, config file [profile x]", env: map[string]string{envProfile: "ops"},
			config:  "[default]\naws_access_key_id = AKIANOTTHIS000000001\naws_secret_access_key = s\n[ops]\naws_access_key_id = AKIANOTTHISEITHER001\naws_secret_access_key = s\n[profile ops]\naws_access_key_id = AKIAOPSCONFIG0000001\naws_secret_access_key = s\n",
			wantKey: "AKIAOPSCONFIG0000001", wantSource: sourceProfilePrefix + "{home}/.aws/config"},
		{name: "AWS_DEFAULT_PROFILE", env: map[string]string{envDefaultProfile: "ops"},
			credentials: credsDefault + "[ops]\naws_access_key_id = AKIAOPS0000000000001\naws_secret_access_key = ops-secret\n",
			wantKey:     "AKIAOPS0000000000001"},
		{name: "AWS_PROFILE beats AWS_DEFAULT_PROFILE", env: map[string]string{envProfile: "ops", envDefaultProfile: "default"},
			credentials: credsDefault + "[ops]\naws_access_key_id = AKIAOPS0000000000001\naws_secret_access_key = ops-secret\n",
			wantKey:     "AKIAOPS0000000000001"},
		{name: "the credentials file beats the config file", credentials: credsDefault,
			config:  "[default]\naws_access_key_id = AKIACONFIGDEFAULT001\naws_secret_access_key = s\naws_session_token = config-token\n",
			wantKey: "AKIAPROFILEDEFAULT01", wantToken: "", wantSource: sourceProfilePrefix + "{home}/.aws/credentials"},
		{name: "files named in the environment", env: map[string]string{envCredentialsFile: "{home}/creds.ini", envConfigFile: "{home}/conf.ini"},
			credentials: credsDefault, config: "[default]\naws_access_key_id = AKIACONFIGDEFAULT001\naws_secret_access_key = s\n",
			wantKey: "AKIAPROFILEDEFAULT01", wantSource: sourceProfilePrefix + "{home}/creds.ini"},
		{name: "files named in the environment replace ~/.aws", env: map[string]string{envCredentialsFile: "{home}/creds.ini", envConfigFile: "/dev/null"},
			extra: map[string]string{"{home}/.aws/credentials": credsDefault, "{home}/.aws/config": credsDefault}, imds: "v2",
			wantKey: imdsKeyID, wantSource: ec2rolecreds.ProviderName},
		{name: "profile keys as the SDK reads them", credentials: "# comment\n; comment\n  [ default ]  # trailing\nAWS_Access_Key_ID: \"AKIAQUOTED0000000001\" ; c\n\taws_secret_access_key='quoted secret'\n",
			wantKey: "AKIAQUOTED0000000001", wantSource: sourceProfilePrefix + "{home}/.aws/credentials"},
		{name: "named profile in neither file", env: map[string]string{envProfile: "nope"}, credentials: credsDefault, imds: "v2",
			wantErr: []string{`aws profile "nope" (AWS_PROFILE) is in neither {home}/.aws/credentials nor {home}/.aws/config`, "or unset AWS_PROFILE"}},
		{name: "named profile, no files", env: map[string]string{envProfile: "nope", envCredentialsFile: "{home}/none", envConfigFile: "{home}/none2"},
			wantErr: []string{`aws profile "nope" (AWS_PROFILE) is in neither {home}/none nor {home}/none2`}},
		{name: "AWS_DEFAULT_PROFILE missing falls through, as in the SDK", env: map[string]string{envDefaultProfile: "nope"}, credentials: credsDefault, imds: "v2",
			wantKey: imdsKeyID, wantSource: ec2rolecreds.ProviderName},
		{name: "a profile without keys falls through", config: "[default]\nregion = eu-west-1\n", imds: "v2",
			wantKey: imdsKeyID, wantSource: ec2rolecreds.ProviderName},
		{name: "a leftover half pair in the config file does not block the credentials file's keys", credentials: credsDefault,
			config: "[default]\naws_access_key_id = AKIAOLD0000000000001\n", wantKey: "AKIAPROFILEDEFAULT01"},
		{name: "half a key pair", credentials: "[default]\naws_access_key_id = AKIAHALF000000000001\n",
			wantErr: []string{`aws profile "default" in {home}/.aws/credentials has aws_access_key_id but no aws_secret_access_key`}},
		{name: "static keys beat credential_process, as in the SDK", credentials: credsDefault, config: "[default]\ncredential_process = /bin/false\n",
			wantKey: "AKIAPROFILEDEFAULT01"},
		{name: "an empty unresolved key is no key", credentials: "[default]\nrole_arn =\n", imds: "v2", wantKey: imdsKeyID},
		{name: "profile beats container and IMDS", credentials: credsDefault, env: map[string]string{envContainerFullURI: "{container}/creds", envContainerToken: "c-token"},
			imds: "v2", wantKey: "AKIAPROFILEDEFAULT01", wantNoIMDSCall: true},

		// 4. The container endpoint.
		{name: "container full URI with token", env: map[string]string{envContainerFullURI: "{container}/creds", envContainerToken: "c-token"}, imds: "v2",
			wantKey: "ASIACONTAINER0000001", wantSource: endpointcreds.ProviderName, wantToken: "container-session", wantNoIMDSCall: true},
		{name: "container token file beats the token", env: map[string]string{envContainerFullURI: "{container}/creds", envContainerToken: "wrong",
			envContainerTokenFile: "{home}/token"},
			wantKey: "ASIACONTAINER0000001", wantSource: endpointcreds.ProviderName},
		{name: "container token file larger than any token", env: map[string]string{envContainerFullURI: "{container}/creds", envContainerTokenFile: "{home}/big"},
			extra: map[string]string{"{home}/big": strings.Repeat("t", maxTokenFile+1)}, wantRetrieveErr: []string{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "larger than 65536 bytes"}},
		{name: "container token file missing", env: map[string]string{envContainerFullURI: "{container}/creds", envContainerTokenFile: "{home}/no-token"},
			wantRetrieveErr: []string{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "no-token"}},
		{name: "container plain http off the allowed hosts", env: map[string]string{envContainerFullURI: "http://192.0.2.10/creds"},
			wantErr: []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://192.0.2.10/creds: plain http is allowed only to a loopback address or 169.254.170.2, 169.254.170.23, fd00:ec2::23, not to 192.0.2.10"}},
		{name: "container URI without a host", env: map[string]string{envContainerFullURI: "http:///creds"},
			wantErr: []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI=http:///creds names no host"}},

		// 5. IMDS.
		{name: "IMDSv2", imds: "v2", wantKey: imdsKeyID, wantSource: ec2rolecreds.ProviderName, wantToken: imdsToken},
		{name: "IMDSv2 only, v2 instance", imds: "v2", v2Only: true, wantKey: imdsKeyID},
		{name: "IMDSv1 fallback", imds: "v1", wantKey: imdsKeyID, wantSource: ec2rolecreds.ProviderName},
		{name: "imds_v2_only refuses the v1 fallback", imds: "v1", v2Only: true, wantRetrieveErr: []string{"failed to get API token"}},
		{name: "AWS_EC2_METADATA_V1_DISABLED refuses the v1 fallback", imds: "v1", env: map[string]string{envIMDSV1Disabled: "TRUE"},
			wantRetrieveErr: []string{"failed to get API token"}},
		{name: "AWS_EC2_METADATA_V1_DISABLED=false keeps it", imds: "v1", env: map[string]string{envIMDSV1Disabled: "false"}, wantKey: imdsKeyID},
		{name: "ec2_metadata_v1_disabled in the profile", imds: "v1", config: "[default]\nec2_metadata_v1_disabled = true\n",
			wantRetrieveErr: []string{"failed to get API token"}},
		{name: "AWS_EC2_METADATA_V1_DISABLED beats the profile", imds: "v1", env: map[string]string{envIMDSV1Disabled: "false"},
			config: "[default]\nec2_metadata_v1_disabled = true\n", wantKey: imdsKeyID},
		{name: "AWS_EC2_METADATA_V1_DISABLED not a bool", env: map[string]string{envIMDSV1Disabled: "yes"},
			wantErr: []string{`AWS_EC2_METADATA_V1_DISABLED is "yes", not true or false`}},
		{name: "AWS_EC2_METADATA_DISABLED", imds: "v2", env: map[string]string{"AWS_EC2_METADATA_DISABLED": "true"},
			wantRetrieveErr: []string{"AWS_EC2_METADATA_DISABLED"}, wantNoIMDSCall: true},
		{name: "endpoint mode not IPv4 or IPv6", env: map[string]string{envIMDSEndpointMode: "IPv5"},
			wantErr: []string{`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE is "IPv5": the IMDS endpoint mode is IPv4 or IPv6`}},
		{name: "endpoint mode in the profile", config: "[default]\nec2_metadata_service_endpoint_mode = v6\n",
			wantErr: []string{`ec2_metadata_service_endpoint_mode in aws profile "default" in {home}/.aws/config is "v6"`}},
		{name: "IMDS endpoint from the profile", env: map[string]string{envIMDSEndpoint: ""}, config: "[default]\nec2_metadata_service_endpoint = {imds}\n",
			imds: "v2", wantKey: imdsKeyID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := isolateAWS(t)
			var imdsURL string
			calls := new(atomic.Int32)
			if tt.imds != "" {
				imdsURL, calls = imdsRoleServer(t, tt.imds == "v1")
				t.Setenv(envIMDSEndpoint, imdsURL)
			}
			r := strings.NewReplacer("{home}", home, "{imds}", imdsURL, "{container}", containerServer(t, "c-token"))
			for k, v := range tt.env {
				t.Setenv(k, r.Replace(v))
			}
			if err := os.WriteFile(filepath.Join(home, "token"), []byte("c-token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			credsPath, confPath := filepath.Join(home, ".aws", "credentials"), filepath.Join(home, ".aws", "config")
			if v := os.Getenv(envCredentialsFile); v != "" {
				credsPath = v
			}
			if v := os.Getenv(envConfigFile); v != "" {
				confPath = v
			}
			writeFile(t, credsPath, r.Replace(tt.credentials))
			writeFile(t, confPath, r.Replace(tt.config))
			for path, text := range tt.extra {
				writeFile(t, r.Replace(path), text)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p, err := AWSCredentials(ctx, tt.v2Only)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("AWSCredentials: no error")
				}
				if !errors.Is(err, failure.Credentials) {
					t.Errorf("error does not wrap failure.Credentials: %v", err)
				}
				for _, s := range tt.wantErr {
					if s = r.Replace(s); !strings.Contains(err.Error(), s) {
						t.Errorf("error %q\nlacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("AWSCredentials: %v", err)
			}
			c, err := p.Retrieve(ctx)
			if len(tt.wantRetrieveErr) > 0 {
				if err == nil {
					t.Fatalf("Retrieve: no error, credentials from %s", c.Source)
				}
				for _, s := range tt.wantRetrieveErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q\nlacks %q", err, s)
					}
				}
			} else {
				if err != nil {
					t.Fatalf("Retrieve: %v", err)
				}
				if c.AccessKeyID != tt.wantKey {
					t.Errorf("access key %q, want %q (source %s)", c.AccessKeyID, tt.wantKey, c.Source)
				}
				if want := r.Replace(tt.wantSource); want != "" && c.Source != want {
					t.Errorf("source %q, want %q", c.Source, want)
				}
				if tt.wantToken != "" && c.SessionToken != tt.wantToken {
					t.Errorf("session token %q, want %q", c.SessionToken, tt.wantToken)
				}
				if tt.wantSource == sourceProfilePrefix+"{home}/.aws/credentials" && c.SessionToken != "" {
					t.Errorf("session token %q from another file than the keys", c.SessionToken)
				}
			}
			if tt.wantNoIMDSCall && calls.Load() != 0 {
				t.Errorf("IMDS got %d requests", calls.Load())
			}
			// diagnose tells the instance role from the other sources so.
			if fromIMDS := aws.IsCredentialsProvider(p, (*ec2rolecreds.Provider)(nil)); err == nil && fromIMDS != (c.Source == ec2rolecreds.ProviderName) {
				t.Errorf("IsCredentialsProvider(ec2rolecreds) = %v for source %q", fromIMDS, c.Source)
			}
		})
	}
}

// writeFile writes text to path, making its directory; "" writes nothing.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if text == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAWSCredentialsUnresolvedProfileKeys(t *testing.T) {
	tests := []struct {
		key, value string
		withKeys   bool // the profile has static keys too
		wantErr    bool
	}{
		{"role_arn", "arn:aws:iam::111122223333:role/r", false, true},
		{"role_arn", "arn:aws:iam::111122223333:role/r", true, true},
		{"source_profile", "base", true, true},
		{"credential_source", "Ec2InstanceMetadata", false, true},
		{"credential_source", "Ec2InstanceMetadata", true, true},
		{"web_identity_token_file", "/var/run/token", true, true},
		{"credential_process", "/usr/bin/creds", false, true},
		{"credential_process", "/usr/bin/creds", true, false},
		{"sso_session", "corp", false, true},
		{"sso_start_url", "https://corp.awsapps.com/start", false, true},
		{"sso_region", "eu-west-1", false, true},
		{"sso_account_id", "111122223333", false, true},
		{"sso_role_name", "Admin", false, true},
		{"sso_session", "corp", true, false},
		{"login_session", "arn:aws:iam::111122223333:user/u", false, true},
	}
	for _, file := range []string{"credentials", "config"} {
		for _, named := range []bool{false, true} {
			for _, tt := range tests {
				name := file + "/" + tt.key
				if tt.withKeys {
					name += "+keys"
				}
				if named {
					name += "/AWS_PROFILE"
				}
				t.Run(name, func(t *testing.T) {
					home := isolateAWS(t)
					profile, header := "default", "[default]"
					if named {
						profile = "dev"
						t.Setenv(envProfile, profile)
						header = "[dev]"
						if file == "config" {
							header = "[profile dev]"
						}
					}
					text := header + "\n" + strings.ToUpper(tt.key) + " = " + tt.value + "\n"
					if tt.withKeys {
						text += "aws_access_key_id = AKIASTATIC0000000001\naws_secret_access_key = s\n"
					}
					path := filepath.Join(home, ".aws", file)
					writeFile(t, path, text)
					p, err := AWSCredentials(context.Background(), false)
					if !tt.wantErr {
						if err != nil {
							t.Fatal(err)
						}
						c, err := p.Retrieve(context.Background())
						if err != nil || c.AccessKeyID != "AKIASTATIC0000000001" {
							t.Fatalf("got %q, %v; want the static keys", c.AccessKeyID, err)
						}
						return
					}
					if err == nil {
						t.Fatal("no error")
					}
					if !errors.Is(err, failure.Credentials) {
						t.Errorf("error does not wrap failure.Credentials: %v", err)
					}
					want := []string{`aws profile "` + profile + `" in ` + path + " sets " + tt.key + ":", "instance profile", "aws configure export-credentials --profile " + profile + " --format env"}
					if named {
						want = append(want, "unset AWS_PROFILE")
					} else {
						want = append(want, "remove "+tt.key+` from profile "default" in `+path)
					}
					for _, s := range want {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("error %q\nlacks %q", err, s)
						}
					}
				})
			}
		}
	}
}

func TestAWSCredentialsContainerRelativeURI(t *testing.T) {
	isolateAWS(t)
	t.Setenv(envContainerRelativeURI, "/v2/credentials/abc")
	p, err := AWSCredentials(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	// Not retrieved: the endpoint is the ECS agent's link-local address.
	if !aws.IsCredentialsProvider(p, (*endpointcreds.Provider)(nil)) {
		t.Errorf("provider %T is not the container endpoint's", p)
	}
}

// A relative URI must be a path: anything else would move the token, in
// clear text, to another host ("http://169.254.170.2@evil.example/...").
func TestAWSCredentialsContainerRelativeURINotAPath(t *testing.T) {
	for _, rel := range []string{"@evil.example/creds", ".evil.example/x", ":8080@evil.example/x", "v2/credentials"} {
		isolateAWS(t)
		t.Setenv(envContainerRelativeURI, rel)
		t.Setenv(envContainerToken, "c-token")
		_, err := AWSCredentials(context.Background(), false)
		if err == nil || !errors.Is(err, failure.Credentials) || !strings.Contains(err.Error(), "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
			t.Errorf("%s=%q: err %v, want a credentials error naming the variable", envContainerRelativeURI, rel, err)
		}
	}
}

func TestContainerURIHosts(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"http://127.0.0.1:8080/creds", true},
		{"http://[::1]/creds", true},
		{"http://169.254.170.2/v2/creds", true},
		{"http://169.254.170.23/v1/credentials", true},
		{"http://[fd00:ec2::23]/v1/credentials", true},
		{"https://creds.example.internal/creds", true}, // not resolved: https may go anywhere
		{"http://169.254.169.254/latest", false},
		{"http://10.0.0.1/creds", false},
		{"http://[fd00:ec2::254]/creds", false},
		{"http://", false},
		{"://bad", false},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			err := checkContainerURI(context.Background(), tt.uri)
			if (err == nil) != tt.ok {
				t.Fatalf("checkContainerURI(%q) = %v, want ok %v", tt.uri, err, tt.ok)
			}
			if err != nil && (!errors.Is(err, failure.Credentials) || !strings.Contains(err.Error(), envContainerFullURI)) {
				t.Errorf("error %q does not wrap failure.Credentials or name %s", err, envContainerFullURI)
			}
		})
	}
}

func TestIMDSOptions(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		config  string
		v2Only  bool
		want    imds.Options
		wantErr string
	}{
		{name: "nothing set", env: map[string]string{envIMDSEndpoint: ""}},
		{name: "endpoint from env", env: map[string]string{envIMDSEndpoint: "http://127.0.0.1:9"}, want: imds.Options{Endpoint: "http://127.0.0.1:9"}},
		{name: "endpoint: env beats profile", env: map[string]string{envIMDSEndpoint: "http://127.0.0.1:9"},
			config: "[default]\nec2_metadata_service_endpoint = http://127.0.0.1:8\n", want: imds.Options{Endpoint: "http://127.0.0.1:9"}},
		{name: "endpoint from profile", env: map[string]string{envIMDSEndpoint: ""},
			config: "[default]\nec2_metadata_service_endpoint = http://127.0.0.1:8\n", want: imds.Options{Endpoint: "http://127.0.0.1:8"}},
		{name: "mode IPv6", env: map[string]string{envIMDSEndpoint: "", envIMDSEndpointMode: "ipv6"}, want: imds.Options{EndpointMode: imds.EndpointModeStateIPv6}},
		{name: "mode IPv4", env: map[string]string{envIMDSEndpoint: "", envIMDSEndpointMode: "IPv4"}, want: imds.Options{EndpointMode: imds.EndpointModeStateIPv4}},
		{name: "mode from profile", env: map[string]string{envIMDSEndpoint: ""}, config: "[default]\nec2_metadata_service_endpoint_mode = IPv6\n",
			want: imds.Options{EndpointMode: imds.EndpointModeStateIPv6}},
		{name: "mode wrong", env: map[string]string{envIMDSEndpointMode: "dual"}, wantErr: `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE is "dual"`},
		{name: "v2Only", env: map[string]string{envIMDSEndpoint: ""}, v2Only: true, want: imds.Options{EnableFallback: aws.FalseTernary}},
		{name: "v2Only beats V1_DISABLED=false", env: map[string]string{envIMDSEndpoint: "", envIMDSV1Disabled: "false"}, v2Only: true,
			want: imds.Options{EnableFallback: aws.FalseTernary}},
		{name: "V1_DISABLED=true", env: map[string]string{envIMDSEndpoint: "", envIMDSV1Disabled: "true"}, want: imds.Options{EnableFallback: aws.FalseTernary}},
		{name: "V1_DISABLED=false", env: map[string]string{envIMDSEndpoint: "", envIMDSV1Disabled: "False"}, want: imds.Options{EnableFallback: aws.TrueTernary}},
		{name: "V1_DISABLED wrong in profile", env: map[string]string{envIMDSEndpoint: ""}, config: "[default]\nec2_metadata_v1_disabled = 1\n",
			wantErr: `ec2_metadata_v1_disabled in aws profile "default" in`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := isolateAWS(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			writeFile(t, filepath.Join(home, ".aws", "config"), tt.config)
			prof, err := loadSharedProfile()
			if err != nil {
				t.Fatal(err)
			}
			got, err := imdsOptions(prof, tt.v2Only)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, failure.Credentials) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one wrapping failure.Credentials naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
		})
	}
}

// NewIMDS keeps the ec2 login's IMDS where AWS_EC2_METADATA_SERVICE_ENDPOINT
// says, and without the IMDSv1 fallback when v2Only.
func TestNewIMDS(t *testing.T) {
	for _, v2Only := range []bool{false, true} {
		t.Run(map[bool]string{false: "fallback", true: "v2Only"}[v2Only], func(t *testing.T) {
			isolateAWS(t)
			url, calls := imdsRoleServer(t, true)
			t.Setenv(envIMDSEndpoint, url)
			md, err := NewIMDS(context.Background(), v2Only)
			if err != nil {
				t.Fatal(err)
			}
			_, err = md.GetMetadata(context.Background(), &imds.GetMetadataInput{Path: "iam/security-credentials/"})
			if v2Only != (err != nil) {
				t.Errorf("GetMetadata from an IMDSv1-only instance: %v (v2Only %v)", err, v2Only)
			}
			if calls.Load() == 0 {
				t.Error("the IMDS at AWS_EC2_METADATA_SERVICE_ENDPOINT got no request")
			}
		})
	}
	t.Run("named profile missing", func(t *testing.T) {
		isolateAWS(t)
		t.Setenv(envProfile, "nope")
		if _, err := NewIMDS(context.Background(), false); !errors.Is(err, failure.Credentials) || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("error %v, want one wrapping failure.Credentials naming the profile", err)
		}
	})
}

func TestSharedFileUnreadable(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" when the file is skipped
	}{
		{name: "default path, no profile named: skipped, as in the SDK"},
		{name: "named in AWS_SHARED_CREDENTIALS_FILE", env: map[string]string{envCredentialsFile: "{dir}"}, wantErr: "AWS_SHARED_CREDENTIALS_FILE"},
		{name: "named in AWS_CONFIG_FILE", env: map[string]string{envConfigFile: "{dir}"}, wantErr: "AWS_CONFIG_FILE"},
		{name: "profile named", env: map[string]string{envProfile: "default"}, wantErr: "aws shared credentials file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := isolateAWS(t)
			// A directory where the file should be: unreadable as a file,
			// whoever runs the test.
			dir := filepath.Join(home, ".aws", "credentials")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "{dir}", dir))
			}
			_, err := AWSCredentials(context.Background(), false)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, failure.Credentials) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %v, want one wrapping failure.Credentials naming %s and %s", err, tt.wantErr, dir)
			}
		})
	}
}

func TestParseINI(t *testing.T) {
	tests := []struct {
		name, text string
		want       map[string]map[string]string
	}{
		{"empty", "", map[string]map[string]string{}},
		{"keys before a section are ignored", "a = 1\n[s]\nb = 2\n", map[string]map[string]string{"s": {"b": "2"}}},
		{"comments", "# c\n ; c\n[s] ; c\na = 1 # c\nb = 2;3\nc = x#y\n", map[string]map[string]string{"s": {"a": "1", "b": "2;3", "c": "x#y"}}},
		{"section names", "[ profile   dev ]\n[default]\n[Default]\n[sso-session corp]\n", map[string]map[string]string{
			"profile dev": {}, "default": {}, "Default": {}, "sso-session corp": {}}},
		{"key case and separators", "[s]\nAWS_Access_Key_ID=a\nb: c=d\ne = f:g\n", map[string]map[string]string{"s": {"aws_access_key_id": "a", "b": "c=d", "e": "f:g"}}},
		{"quotes", "[s]\na = \"x y\"\nb = 'z'\nc = \"unmatched'\nd = \"\n", map[string]map[string]string{"s": {"a": "x y", "b": "z", "c": "\"unmatched'", "d": "\""}}},
		{"whitespace and CRLF", "[s]\r\n  a  =  1  \r\n\tb=2\r\n", map[string]map[string]string{"s": {"a": "1", "b": "2"}}},
		{"continuation", "[s]\na = one\n  two\nb = 3\n", map[string]map[string]string{"s": {"a": "one\ntwo", "b": "3"}}},
		{"sub-keys are not keys", "[s]\ns3 =\n  max_concurrent_requests = 10\n  region = x\nregion = y\n", map[string]map[string]string{"s": {"s3": "", "region": "y"}}},
		{"indented key after a value", "[s]\na = 1\n  b = 2 # c\n", map[string]map[string]string{"s": {"a": "1", "b": "2"}}},
		{"sections merge, a later key wins", "[s]\na = 1\nb = 1\n[t]\n[s]\na = 2\n", map[string]map[string]string{"s": {"a": "2", "b": "1"}, "t": {}}},
		{"not a section", "[s\n[t]x\n[u]\nnothing here\n", map[string]map[string]string{"u": {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseINI(tt.text)
			if !maps.EqualFunc(got, tt.want, maps.Equal[map[string]string]) {
				t.Errorf("parseINI(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
}

func FuzzParseINI(f *testing.F) {
	for _, s := range []string{
		"[default]\naws_access_key_id = a\naws_secret_access_key = b\n",
		"[profile x]\ns3 =\n  a = b\n c\n# c\n; c\nk: \"v\" ; c\n",
		"[ a  b ] # c\r\n\tk=v\n  cont\n[",
		"=\n:\n[]\n'\n\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		// Whatever comes before, a section at the end reads as written.
		got := parseINI(text + "\n[fuzz-end]\nk = v\n")
		if got["fuzz-end"]["k"] != "v" {
			t.Fatalf("the last section is %q", got["fuzz-end"])
		}
		for name, keys := range got {
			if strings.Contains(name, "\n") {
				t.Fatalf("section name %q spans lines", name)
			}
			for k := range keys {
				if k != strings.TrimSpace(k) || strings.ContainsAny(k, "\n=") {
					t.Fatalf("key %q in section %q", k, name)
				}
			}
		}
	})
}
