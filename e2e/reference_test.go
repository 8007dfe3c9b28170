package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
	awsauth "github.com/hashicorp/vault/api/auth/aws"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// referenceLogin logs in with HashiCorp's own client library
// (vault/api/auth/aws), given the instance's credentials in the
// environment, to show the loopback stack behaves like the real thing.
func referenceLogin(t *testing.T, instance, role, header string) (string, error) {
	t.Helper()
	return referenceLoginAt(t, st.Vault, instance, role, header)
}

// referenceLoginAt logs in like referenceLogin through the Vault vc
// points at (its token is not used).
func referenceLoginAt(t *testing.T, vc *api.Client, instance, role, header string) (string, error) {
	t.Helper()
	for _, kv := range st.Instances[instance].CredsEnv() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	auth, err := awsauth.NewAWSAuth(awsauth.WithRole(role), awsauth.WithIAMServerIDHeader(header), awsauth.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := vc.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	s, err := c.Auth().Login(context.Background(), auth)
	if err != nil {
		return "", err
	}
	return s.Auth.ClientToken, nil
}

func TestAcceptanceMatrixReferenceClient(t *testing.T) {
	rows := []struct {
		instance, role, header string
		wantErr                string
	}{
		{"client1", "vault-role", stack.HeaderValue, ""},
		{"client2", "vault-role", stack.HeaderValue, ""},
		{"client1", "vault-role1", stack.HeaderValue, ""},
		{"client2", "vault-role2", stack.HeaderValue, ""},
		{"client1", "vault-role2", stack.HeaderValue, `does not belong to the role "vault-role2"`},
		{"client1", "vault-role", "not-the-server", `expected "` + stack.HeaderValue + `" but got "not-the-server"`},
		{"pathed", "vault-role", stack.HeaderValue, `IAM Principal "arn:aws:sts::222222222222:assumed-role/vault-secondary-x/`},
	}
	for _, r := range rows {
		t.Run(r.instance+"/"+r.role+"/"+r.header, func(t *testing.T) {
			tok, err := referenceLogin(t, r.instance, r.role, r.header)
			if r.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), r.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, r.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p := policiesOf(t, lookupSelf(t, tok)); !slices.Contains(p, "admin") {
				t.Errorf("policies %v lack admin", p)
			}
		})
	}
}
