// Package login turns AWS credentials into a Vault token through Vault's aws
// auth method: it signs an sts:GetCallerIdentity request (the IAM method)
// and posts it to auth/<mount>/login. It never calls AWS STS itself; Vault
// forwards the signed request.
package login

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// ServerIDHeader is the header Vault's iam_server_id_header_value checks.
const ServerIDHeader = "X-Vault-AWS-IAM-Server-ID"

// stsBody is the only body Vault accepts for a POST GetCallerIdentity.
const stsBody = "Action=GetCallerIdentity&Version=2011-06-15"

// SigningTarget says where and how the GetCallerIdentity request is signed.
type SigningTarget struct {
	Endpoint    string // e.g. https://sts.amazonaws.com
	Region      string // credential scope region, e.g. us-east-1
	HeaderValue string // X-Vault-AWS-IAM-Server-ID; "" = not sent
}

// IAMLoginData builds the body of an IAM login: a freshly signed
// GetCallerIdentity POST, encoded the way Vault's login path expects
// (standard base64 of URL, body and a JSON header map). role may be "".
func IAMLoginData(ctx context.Context, creds aws.Credentials, t SigningTarget, role string, now time.Time) (map[string]any, error) {
	u, err := url.Parse(strings.TrimRight(t.Endpoint, "/") + "/")
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("sts endpoint %q is not a URL with a host", t.Endpoint)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(stsBody))
	if err != nil {
		return nil, fmt.Errorf("build GetCallerIdentity request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if t.HeaderValue != "" {
		req.Header.Set(ServerIDHeader, t.HeaderValue)
	}
	sum := sha256.Sum256([]byte(stsBody))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sts", t.Region, now.UTC()); err != nil {
		return nil, fmt.Errorf("sign GetCallerIdentity for region %s: %w", t.Region, err)
	}
	headers, err := json.Marshal(req.Header)
	if err != nil {
		return nil, fmt.Errorf("encode signed headers: %w", err)
	}
	data := map[string]any{
		"iam_http_request_method": http.MethodPost,
		"iam_request_url":         base64.StdEncoding.EncodeToString([]byte(u.String())),
		"iam_request_body":        base64.StdEncoding.EncodeToString([]byte(stsBody)),
		"iam_request_headers":     base64.StdEncoding.EncodeToString(headers),
	}
	if role != "" {
		data["role"] = role
	}
	return data, nil
}
