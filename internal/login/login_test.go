package login

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/vault"
	"github.com/xauth-agent/xauth-agent/internal/vaulttest"
)

const (
	testKeyID   = "ASIAECHOTESTKEY00001"
	testSecret  = "echo/secret+key0123456789abcdefghijklmnop"
	testSession = "IQoJb3JpZ2luX2VjEEcaCXVzLWVhc3QtMSJGMEQCIDU6session+token/with/the/length/of/a/real/one/0123456789abcdefABCDEF=="
)

// A login answered by something that echoes the request back: the error
// says what happened, with neither the signed headers, the signature, the
// session token nor the request body in it.
func TestLoginErrorFromAnEchoingServer(t *testing.T) {
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testSession, Source: "test"}, nil
	})
	auth := config.Auth{Method: "aws", Type: "iam", Role: "vault-role", Mount: "aws", HeaderValue: "vault.example.com",
		STSRegion: "us-east-1", STSEndpoint: "https://sts.amazonaws.com"}
	for _, status := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusInternalServerError, http.StatusBadGateway} {
		for _, asJSON := range []bool{false, true} {
			e := vaulttest.NewEcho(t, vaulttest.EchoOptions{Status: status, JSON: asJSON})
			vc, err := vault.NewClient(config.Vault{Addresses: []string{e.URL}}, config.Lifecycle{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(vc, creds, auth, time.Now, zap.NewNop()).Login(context.Background())
			if err == nil {
				t.Fatalf("status %d: the login succeeded", status)
			}
			msg := err.Error()
			if found := e.Shown(msg, testSecret, testSession, "Action=GetCallerIdentity", base64.StdEncoding.EncodeToString([]byte(stsBody))); len(found) > 0 {
				t.Errorf("status %d json %v: the error shows %q:\n%s", status, asJSON, found, msg)
			}
			if !strings.Contains(msg, "[redacted]") || !strings.Contains(msg, "/v1/auth/aws/login") {
				t.Errorf("status %d json %v: the error should still show what was echoed, redacted:\n%s", status, asJSON, msg)
			}
		}
	}
}
