package diagnose

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Test identities. The secrets must never show in a report.
const (
	testAccount   = "222222222222"
	testRole      = "vault-secondary-x"
	testRoleID    = "AROAINSTANCEROLE0003"
	testInstance  = "i-0ba7ed0000000003"
	testKeyID     = "ASIATESTKEY00000001"
	testSecret    = "instance-secret-key-do-not-print"
	testSession   = "instance-session-token-do-not-print"
	testVaultTok  = "hvs.login-token-do-not-print"
	testOperator  = "hvs.operator-token-do-not-print"
	testCallerARN = "arn:aws:sts::" + testAccount + ":assumed-role/" + testRole + "/" + testInstance
)

var reScopeTest = regexp.MustCompile(`Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request`)

// fakeAWS answers sts:GetCallerIdentity and iam:GetRole like AWS does for
// the cases diagnose meets: the credential scope must fit the signed Host
// (the global hosts take only us-east-1). It does not verify signatures;
// login's tests do.
type fakeAWS struct {
	*httptest.Server
	rolePath string // "/" or "/team/"
	denyIAM  bool

	mu    sync.Mutex
	hosts []string
}

func newFakeAWS(t *testing.T) *fakeAWS {
	f := &fakeAWS{rolePath: "/"}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hosts = append(f.hosts, r.Host)
	f.mu.Unlock()
	_ = r.ParseForm()
	m := reScopeTest.FindStringSubmatch(r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "text/xml")
	fail := func(status int, code, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error></ErrorResponse>`, code, msg)
	}
	switch {
	case m == nil:
		fail(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	case m[1] != testKeyID:
		fail(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	case (r.Host == "sts.amazonaws.com" || r.Host == "iam.amazonaws.com") && m[2] != "us-east-1":
		fail(403, "SignatureDoesNotMatch", fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", m[2]))
		return
	}
	switch r.PostForm.Get("Action") {
	case "GetCallerIdentity":
		fmt.Fprintf(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>%s</Arn><UserId>%s:%s</UserId><Account>%s</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`,
			testCallerARN, testRoleID, testInstance, testAccount)
	case "GetRole":
		if f.denyIAM {
			fail(403, "AccessDenied", "User is not authorized to perform: iam:GetRole")
			return
		}
		if r.PostForm.Get("RoleName") != testRole {
			fail(404, "NoSuchEntity", "The role cannot be found.")
			return
		}
		fmt.Fprintf(w, `<GetRoleResponse><GetRoleResult><Role><Path>%s</Path><RoleName>%s</RoleName><RoleId>%s</RoleId><Arn>arn:aws:iam::%s:role%s%s</Arn></Role></GetRoleResult></GetRoleResponse>`,
			f.rolePath, testRole, testRoleID, testAccount, f.rolePath, testRole)
	default:
		fail(400, "InvalidAction", "unknown action")
	}
}

// fakeIMDS is an IMDSv2-only metadata service; with hang set, the token
// PUT never answers (the hop-limit symptom).
type fakeIMDS struct {
	*httptest.Server
	hang   chan struct{}
	noRole bool
}

func newFakeIMDS(t *testing.T, hang bool) *fakeIMDS {
	f := &fakeIMDS{}
	if hang {
		f.hang = make(chan struct{})
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		if f.hang != nil {
			close(f.hang)
		}
		f.Close()
	})
	return f
}

func (f *fakeIMDS) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
		if f.hang != nil {
			select {
			case <-f.hang:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		_, _ = io.WriteString(w, "imds-token")
		return
	}
	if r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-token" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == "/latest/meta-data/iam/security-credentials/" && !f.noRole:
		_, _ = io.WriteString(w, testRole)
	case r.URL.Path == "/latest/meta-data/iam/security-credentials/"+testRole && !f.noRole:
		_ = json.NewEncoder(w).Encode(map[string]string{
			"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": testKeyID, "SecretAccessKey": testSecret, "Token": testSession,
			"Expiration": time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339), "LastUpdated": time.Now().UTC().Format(time.RFC3339),
		})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// fakeVault answers the few paths diagnose uses, the way Vault does.
type fakeVault struct {
	*httptest.Server
	mount        string
	loginErr     string // "" = the login succeeds
	role         map[string]any
	clientConfig map[string]any

	mu      sync.Mutex
	revoked []string // tokens revoke-self was called with
	logins  int
}

func newFakeVault(t *testing.T) *fakeVault {
	f := &fakeVault{mount: "aws"}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func vaultErr(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []string{msg}})
}

func vaultData(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("X-Vault-Token")
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	loginPath := "auth/" + f.mount + "/login"
	switch {
	case path == "sys/health":
		vaultData(w, map[string]any{"initialized": true, "sealed": false, "standby": false, "version": "1.21.4", "server_time_utc": time.Now().Unix()})
	case path == loginPath:
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if len(body) == 0 {
			vaultErr(w, 400, "didn't supply required authentication values")
			return
		}
		f.mu.Lock()
		f.logins++
		f.mu.Unlock()
		if f.loginErr != "" {
			vaultErr(w, 400, f.loginErr)
			return
		}
		vaultData(w, map[string]any{"auth": map[string]any{
			"client_token": testVaultTok, "accessor": "accessor-1", "policies": []string{"default", "admin"},
			"lease_duration": 2764800, "renewable": true, "metadata": map[string]string{"account_id": testAccount, "auth_type": "iam"},
		}})
	case path == "auth/token/revoke-self":
		f.mu.Lock()
		f.revoked = append(f.revoked, tok)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case tok != testOperator:
		vaultErr(w, 403, "permission denied")
	case path == "sys/auth":
		vaultData(w, map[string]any{"data": map[string]any{f.mount + "/": map[string]any{"type": "aws"}, "token/": map[string]any{"type": "token"}}})
	case strings.HasPrefix(path, "auth/"+f.mount+"/role/") && f.role != nil:
		vaultData(w, map[string]any{"data": f.role})
	case path == "auth/"+f.mount+"/role" && r.Method == "LIST" || path == "auth/"+f.mount+"/role" && r.URL.Query().Get("list") == "true":
		vaultData(w, map[string]any{"data": map[string]any{"keys": []string{"vault-role", "vault-role2"}}})
	case path == "auth/"+f.mount+"/config/client" && f.clientConfig != nil:
		vaultData(w, map[string]any{"data": f.clientConfig})
	default:
		vaultErr(w, 404, "")
	}
}

// awsEnv sets the environment so the AWS SDK finds credentials only where a
// test says: in the environment (imds == "") or at the fake IMDS.
func awsEnv(t *testing.T, imds string) {
	t.Helper()
	for _, k := range []string{"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	if imds == "" {
		t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
		t.Setenv("AWS_SESSION_TOKEN", testSession)
		t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
		return
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds)
}
