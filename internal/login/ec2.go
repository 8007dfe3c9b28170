package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/token"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// Log field names of the ec2 login.
const (
	fieldInstance  = "instance_id"
	fieldAccount   = "account_id"
	fieldDocRegion = "region"
	fieldSignature = "signature"
	fieldNonceFile = "nonce_file"
)

// IMDS paths of the signed instance identity document, under
// /latest/dynamic/.
const (
	pathRSA2048   = "instance-identity/rsa2048"
	pathPKCS7     = "instance-identity/pkcs7"
	pathDocument  = "instance-identity/document"
	pathSignature = "instance-identity/signature"
)

// maxIMDSBody bounds what is read from one IMDS answer.
const maxIMDSBody = 64 << 10

// InstanceIdentity is the part of the instance identity document that
// Vault checks, and that error messages name.
type InstanceIdentity struct {
	InstanceID  string `json:"instanceId"`
	AccountID   string `json:"accountId"`
	Region      string `json:"region"`
	ImageID     string `json:"imageId"`
	PendingTime string `json:"pendingTime"`
}

// EC2Client logs in with the ec2 method: the signed instance identity
// document from IMDS, and the client nonce kept in the nonce file.
type EC2Client struct {
	vault *api.Client
	md    *imds.Client
	auth  config.Auth
	log   *zap.Logger

	warnPerm sync.Once
}

// NewEC2 returns an ec2 login client. auth.Signature and auth.NonceFile
// must be set (config.Load does).
func NewEC2(vault *api.Client, md *imds.Client, auth config.Auth, log *zap.Logger) *EC2Client {
	return &EC2Client{vault: vault, md: md, auth: auth, log: log}
}

// Login fetches the signed document, makes sure a nonce is on disk, then
// logs in with both. The error is of the kind failure.Credentials (IMDS),
// failure.Unreachable or failure.Refused (a *vault.Error with DiagnoseEC2's
// reading; failure.NonceMismatch when Vault holds another nonce for this
// instance).
func (c *EC2Client) Login(ctx context.Context) (*api.Secret, error) {
	doc, data, err := c.document(ctx)
	if err != nil {
		return nil, err
	}
	// The nonce goes to disk before Vault sees it: Vault binds it to this
	// instance on the first login, and a nonce only in memory would be lost
	// with the process.
	n, created, err := ensureNonce(c.auth.NonceFile)
	if err != nil {
		return nil, fmt.Errorf("nonce file %s: %w\nfix: the agent's user must be able to create and write it: its directory is the systemd unit's StateDirectory; or set nonce_file", c.auth.NonceFile, err)
	}
	if created {
		c.log.Info("new client nonce written", zap.String(fieldNonceFile, c.auth.NonceFile))
	} else if n.perm&0o077 != 0 {
		c.warnPerm.Do(func() {
			c.log.Warn("the nonce file is readable by other users: anyone who reads it can log in as this instance; chmod 0600 it",
				zap.String(fieldNonceFile, c.auth.NonceFile), zap.Stringer("mode", n.perm))
		})
	}
	data["nonce"] = n.value
	if c.auth.Role != "" {
		data["role"] = c.auth.Role
	}

	c.log.Debug("logging in", zap.String(fieldMount, c.auth.Mount), zap.String(fieldRole, c.auth.Role),
		zap.String(fieldSignature, c.auth.Signature), zap.String(fieldInstance, doc.InstanceID),
		zap.String(fieldAccount, doc.AccountID), zap.String(fieldDocRegion, doc.Region))
	secret, err := postLogin(ctx, c.vault, c.auth.Mount, data, func(status int, errs []string) *vault.Error {
		return DiagnoseEC2(status, errs, EC2Attempt{Mount: c.auth.Mount, Role: c.auth.Role, Signature: c.auth.Signature, NonceFile: c.auth.NonceFile, Doc: doc})
	})
	if err != nil {
		return nil, err
	}
	// Vault returns a nonce only when none was sent; keep it if it does.
	if v := secret.Auth.Metadata["nonce"]; v != "" && v != n.value {
		if err := storeNonce(c.auth.NonceFile, v); err != nil {
			c.log.Error("vault returned a client nonce that could not be kept: the next login will be refused until it is in the nonce file",
				zap.String(fieldNonceFile, c.auth.NonceFile), zap.Error(err))
		}
	}
	c.log.Info("logged in", zap.String(fieldAccessor, secret.Auth.Accessor), zap.Strings(fieldPolicies, secret.Auth.Policies),
		zap.Duration(fieldTTL, token.LeaseTTL(secret.Auth.LeaseDuration)), zap.String(fieldRole, c.auth.Role),
		zap.String(fieldInstance, doc.InstanceID))
	return secret, nil
}

// document reads the instance identity document and, for the configured
// signature type, builds the login fields that carry it: pkcs7 (the rsa2048
// or pkcs7 PKCS#7, its base64 without line breaks, which Vault wraps in PEM
// armour itself), or identity (the document's JSON in base64) and signature
// (base64, as IMDS serves it).
func (c *EC2Client) document(ctx context.Context) (InstanceIdentity, map[string]any, error) {
	raw, err := c.get(ctx, pathDocument)
	if err != nil {
		return InstanceIdentity{}, nil, err
	}
	var doc InstanceIdentity
	if err := json.Unmarshal(raw, &doc); err != nil || doc.InstanceID == "" {
		return InstanceIdentity{}, nil, fmt.Errorf("%w: IMDS %s is not an instance identity document (%v)", failure.Credentials, pathDocument, err)
	}
	data := map[string]any{}
	switch c.auth.Signature {
	case config.SignatureIdentity:
		sig, err := c.get(ctx, pathSignature)
		if err != nil {
			return InstanceIdentity{}, nil, err
		}
		data["identity"] = base64.StdEncoding.EncodeToString(raw)
		data["signature"] = stripSpace(sig)
	case config.SignaturePKCS7, config.SignatureRSA2048, "":
		p := pathRSA2048
		if c.auth.Signature == config.SignaturePKCS7 {
			p = pathPKCS7
		}
		b, err := c.get(ctx, p)
		if err != nil {
			return InstanceIdentity{}, nil, err
		}
		data["pkcs7"] = stripSpace(b)
	default:
		return InstanceIdentity{}, nil, fmt.Errorf("signature type %q is not supported", c.auth.Signature)
	}
	return doc, data, nil
}

// get reads /latest/dynamic/<path> through IMDSv2.
func (c *EC2Client) get(ctx context.Context, path string) ([]byte, error) {
	out, err := c.md.GetDynamicData(ctx, &imds.GetDynamicDataInput{Path: path})
	if err != nil {
		return nil, imdsError(path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, maxIMDSBody))
	if err != nil {
		return nil, imdsError(path, err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, fmt.Errorf("%w: IMDS answered %s with nothing", failure.Credentials, path)
	}
	return b, nil
}

func imdsError(path string, err error) error {
	hint := "check that this runs on an EC2 instance with the metadata service on (aws ec2 describe-instances --query 'Reservations[].Instances[].MetadataOptions'), or AWS_EC2_METADATA_SERVICE_ENDPOINT"
	var status interface{ HTTPStatusCode() int }
	var ne interface{ Timeout() bool }
	switch {
	case errors.As(err, &status) && status.HTTPStatusCode() == 404:
		hint = "IMDS does not serve this document here: choose another signature type (signature = \"rsa2048\", \"pkcs7\" or \"identity\")"
	case errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "deadline exceeded"):
		hint = "IMDS did not answer in time: inside a container the IMDSv2 token PUT needs HttpPutResponseHopLimit >= 2 (aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2)"
	}
	return fmt.Errorf("%w: instance identity document: IMDS %s: %v\nfix: %s", failure.Credentials, path, err, hint)
}

// stripSpace drops every white-space character: IMDS breaks its base64
// into lines.
func stripSpace(b []byte) string {
	return strings.Join(strings.Fields(string(b)), "")
}
