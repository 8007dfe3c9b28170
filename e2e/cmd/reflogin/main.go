// Command reflogin is the reference client `make bench` measures
// xauth-agent against: one IAM login with HashiCorp's own library,
// github.com/hashicorp/vault/api/auth/aws, the way its documentation shows
// it. It reads VAULT_ADDR and the AWS credentials from the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), logs in,
// and prints the token on stdout or writes it to -out. Exit 0 on success,
// 1 when the login fails, 2 on a usage error.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/vault/api"
	awsauth "github.com/hashicorp/vault/api/auth/aws"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reflogin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "Vault role to log in with")
	header := fs.String("header-value", "", "X-Vault-AWS-IAM-Server-ID value")
	region := fs.String("region", "us-east-1", "region the GetCallerIdentity request is signed for")
	mount := fs.String("mount", "aws", "path the aws auth method is enabled at")
	out := fs.String("out", "", "write the token to this file (mode 0600) instead of stdout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token, err := login(ctx, *role, *header, *region, *mount)
	if err != nil {
		fmt.Fprintln(stderr, "reflogin:", err)
		return 1
	}
	if *out == "" {
		fmt.Fprintln(stdout, token)
		return 0
	}
	if err := os.WriteFile(*out, []byte(token), 0o600); err != nil {
		fmt.Fprintln(stderr, "reflogin:", err)
		return 1
	}
	return 0
}

func login(ctx context.Context, role, header, region, mount string) (string, error) {
	c, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		return "", err
	}
	c.ClearToken()
	auth, err := awsauth.NewAWSAuth(awsauth.WithRole(role), awsauth.WithIAMServerIDHeader(header),
		awsauth.WithRegion(region), awsauth.WithMountPath(mount))
	if err != nil {
		return "", err
	}
	secret, err := c.Auth().Login(ctx, auth)
	if err != nil {
		return "", err
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return "", fmt.Errorf("vault answered the login on auth/%s without a token", mount)
	}
	return secret.Auth.ClientToken, nil
}
