package login

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

// assumedExpiryWindow is how long before they expire the credentials of
// assume_role_arn are renewed: a login never signs with credentials about to
// lapse, and an STS hiccup has minutes to pass.
const assumedExpiryWindow = 5 * time.Minute

// AWS is what the agent takes from the AWS SDK's configuration, loaded once
// at start: the credential chain, the IMDS client, and the role it assumes on
// top of them.
type AWS struct {
	// Credentials is what the iam login signs with: Base, or the role of
	// auth.assume_role_arn assumed with Base's credentials. Its errors wrap
	// failure.Credentials and say what to do.
	Credentials aws.CredentialsProvider
	// Base is the AWS SDK's default credential chain, cached: the
	// environment, the shared config profile (static keys, role_arn,
	// web identity, SSO, credential_process, ...), web identity, the
	// container endpoint, IMDS, in the SDK's order.
	Base aws.CredentialsProvider
	// IMDS is the instance metadata client with the SDK's IMDS settings
	// (AWS_EC2_METADATA_*, the profile's ec2_metadata_*), without the IMDSv1
	// fallback when auth.imds_v2_only is set. Base's instance role uses it.
	IMDS *imds.Client
	// AssumeRole is the role of auth.assume_role_arn and the STS client
	// that assumes it; nil without one.
	AssumeRole *AssumedRole
}

// AssumedRole is auth.assume_role_arn, its defaults filled in, and where it
// is assumed. The STS client follows the AWS SDK's settings, not sts_region
// and sts_endpoint (which only say what the login request is signed for).
type AssumedRole struct {
	config.AssumeRole
	Region   string // the SDK's region (AWS_REGION, AWS_DEFAULT_REGION, the profile's region), else IMDS's
	Endpoint string // the STS endpoint for Region, or AWS_ENDPOINT_URL_STS
}

// LoadAWS loads the AWS SDK's configuration for auth, in one
// config.LoadDefaultConfig call: the SDK decides which credential source
// applies and in what order; the agent adds only its IMDS setting
// (imds_v2_only) and, with assume_role_arn, an sts:AssumeRole on top of the
// chain. Nothing is fetched yet, apart from the instance's region from IMDS
// when a role is to be assumed and the SDK knows no region. The ec2 type
// signs with no credentials, so for it the chain is not built. An error
// wraps failure.Credentials and says what to do.
func LoadAWS(ctx context.Context, auth config.Auth) (*AWS, error) {
	// The instance role's IMDS client is made from the loaded configuration
	// (it reads the profile's ec2_metadata_* keys), so the chain gets it
	// through this holder, filled in before anything is retrieved.
	md := &imdsHolder{}
	var opts []func(*awsconfig.LoadOptions) error
	if auth.Type == "ec2" {
		opts = append(opts, awsconfig.WithCredentialsProvider(aws.AnonymousCredentials{}))
	} else {
		opts = append(opts, awsconfig.WithEC2RoleCredentialOptions(func(o *ec2rolecreds.Options) { o.Client = md }))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, credentialsError(err, chain{profile: profileOf(nil)})
	}
	profile := profileOf(cfg.ConfigSources)
	md.Client = imds.NewFromConfig(cfg, func(o *imds.Options) {
		if auth.IMDSv2Only {
			o.EnableFallback = aws.FalseTernary
		}
	})
	a := &AWS{Base: cfg.Credentials, IMDS: md.Client}
	creds := cfg.Credentials
	if r := auth.AssumeRole; r.ARN != "" {
		if a.AssumeRole, creds, err = assumeRole(ctx, cfg, md.Client, r); err != nil {
			return nil, err
		}
	}
	a.Credentials = &explained{p: creds, chain: chain{profile: profile, imds: aws.IsCredentialsProvider(cfg.Credentials, (*ec2rolecreds.Provider)(nil))}}
	return a, nil
}

// imdsHolder is an IMDS client that LoadAWS fills in after
// LoadDefaultConfig returns.
type imdsHolder struct{ *imds.Client }

// assumeRole puts an sts:AssumeRole of r on top of cfg's credentials: an STS
// client from cfg (its region, AWS_ENDPOINT_URL_STS, its retryer), the
// result cached and renewed assumedExpiryWindow before it expires.
func assumeRole(ctx context.Context, cfg aws.Config, md *imds.Client, r config.AssumeRole) (*AssumedRole, aws.CredentialsProvider, error) {
	if cfg.Region == "" {
		out, err := md.GetRegion(ctx, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: assume_role_arn %s: no AWS region is configured for its STS client, and IMDS did not tell the instance's region: %v\nfix: set AWS_REGION (or region in the AWS profile) to the region whose STS endpoint should assume the role",
				failure.Credentials, r.ARN, err)
		}
		cfg.Region = out.Region
	}
	if r.SessionName == "" {
		r.SessionName = defaultSessionName()
	}
	client := sts.NewFromConfig(cfg)
	c := &AssumedRole{AssumeRole: r, Region: cfg.Region, Endpoint: stsEndpoint(ctx, client.Options())}
	p := stscreds.NewAssumeRoleProvider(client, r.ARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = r.SessionName
		o.Duration = r.Duration
		if r.ExternalID != "" {
			o.ExternalID = aws.String(r.ExternalID)
		}
	})
	cache := aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = assumedExpiryWindow })
	return c, cache, nil
}

// stsEndpoint is the endpoint an STS client with options o calls, as its
// endpoint resolver gives it; "" when it cannot say.
func stsEndpoint(ctx context.Context, o sts.Options) string {
	if o.BaseEndpoint != nil {
		return *o.BaseEndpoint
	}
	ep, err := o.EndpointResolverV2.ResolveEndpoint(ctx, sts.EndpointParameters{
		Region:       aws.String(o.Region),
		UseFIPS:      aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack: aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
	})
	if err != nil {
		return ""
	}
	return ep.URI.String()
}

// defaultSessionName is the role session name when none is configured:
// xauth-agent-<hostname>, which CloudTrail and the assumed-role ARN show, in
// the characters STS allows.
func defaultSessionName() string {
	host, _ := os.Hostname()
	name := "xauth-agent-" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_+=,.@-", r):
			return r
		}
		return '-'
	}, host)
	return strings.TrimSuffix(name[:min(len(name), 64)], "-")
}

// profileOf is the shared config profile the SDK loaded (in sources, a
// loaded aws.Config's ConfigSources), else the one the environment names,
// for the fixes that name it.
func profileOf(sources []any) string {
	for _, s := range sources {
		if sc, ok := s.(awsconfig.SharedConfig); ok && sc.Profile != "" {
			return sc.Profile
		}
	}
	if env, err := awsconfig.NewEnvConfig(); err == nil && env.SharedConfigProfile != "" {
		return env.SharedConfigProfile
	}
	return "default"
}

// explained is a credentials provider whose errors wrap failure.Credentials and
// say what to do.
type explained struct {
	p     aws.CredentialsProvider
	chain chain
}

// chain is what the fixes of credentialsError need to know of the chain.
type chain struct {
	profile string // the shared config profile in use
	imds    bool   // the chain ends at the instance role
}

func (e *explained) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := e.p.Retrieve(ctx)
	if err != nil {
		return c, credentialsError(err, e.chain)
	}
	return c, nil
}

// credentialsError wraps an error of the AWS SDK's credential chain in
// failure.Credentials, with a one-line fix for the failures it recognises. The
// SDK's message is kept, except where it can carry a secret (the output of
// a credential_process that is not the JSON the SDK expects). c says what
// the chain is: its profile, for the fixes that name it, and whether it
// ends at the instance role, where a timeout is most likely IMDS's.
func credentialsError(err error, c chain) error {
	profile := c.profile
	if profile == "" {
		profile = profileOf(nil)
	}
	msg := err.Error()
	var (
		notExist awsconfig.SharedConfigProfileNotExistError
		mfa      awsconfig.AssumeRoleTokenProviderNotSetError
		sso      *ssocreds.InvalidTokenError
		process  *processcreds.ProviderError
		api      smithy.APIError
		op       *smithy.OperationError
		timeout  interface{ Timeout() bool }
		status   interface{ HTTPStatusCode() int }
	)
	code := ""
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	operation := ""
	if errors.As(err, &op) {
		operation = op.Service() + " " + op.Operation()
	}
	var fix string
	switch {
	case errors.As(err, &notExist):
		fix = fmt.Sprintf("add [profile %s] to the shared config file (AWS_CONFIG_FILE, else ~/.aws/config) or [%s] to the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials), or unset AWS_PROFILE",
			notExist.Profile, notExist.Profile)
	case errors.As(err, &mfa):
		fix = "the agent cannot ask for an MFA code: give it a profile without mfa_serial"
	case errors.As(err, &sso), strings.Contains(msg, "cached SSO token"), strings.HasPrefix(operation, "SSO ") && code == "UnauthorizedException":
		fix = "the IAM Identity Center (SSO) session has expired or was never started: run aws sso login --profile " + profile + " as the agent's user"
	case errors.As(err, &process):
		if inner := process.Err.Error(); strings.Contains(inner, "parse failed of process output") {
			msg = strings.Replace(msg, inner, "the output of credential_process is not the JSON the SDK expects (not shown: it may hold a secret)", 1)
		}
		fix = "run the profile's credential_process command as the agent's user: it must exit 0 and print the credential_process JSON (Version 1, AccessKeyId, SecretAccessKey) on stdout"
	case strings.Contains(msg, "failed to retrieve jwt"):
		fix = "make the web identity token file (AWS_WEB_IDENTITY_TOKEN_FILE, or web_identity_token_file in the profile) readable by the agent's user; on EKS it is the projected service account token"
	case strings.Contains(msg, "Missing Region") || strings.Contains(msg, "region is required"):
		fix = "set AWS_REGION (or region in the AWS profile) for the AWS SDK's STS client; sts_region does not set it, it only says what the login request is signed for"
	case code == "AccessDenied" && strings.HasPrefix(operation, "STS "):
		fix = "the role's trust policy must allow the caller named above to call sts:" + strings.TrimPrefix(operation, "STS ") +
			", with the ExternalId it requires (assume_role_external_id, or external_id in the profile)"
	case (code == "ExpiredToken" || code == "InvalidClientTokenId") && strings.HasPrefix(operation, "STS "):
		fix = "STS refused the credentials the role is assumed with: check the source they come from (xauth-agent diagnose shows it)"
	case strings.Contains(msg, "loopback/ecs/eks") || strings.Contains(msg, "local HTTP cred provider") || strings.Contains(msg, "failed to resolve host"):
		fix = "set AWS_CONTAINER_CREDENTIALS_FULL_URI to the container credentials endpoint: https, or http to a loopback address or 169.254.170.2, 169.254.170.23, fd00:ec2::23"
	case strings.Contains(msg, "no EC2 IMDS role found") && errors.As(err, &status) && status.HTTPStatusCode() == 404:
		fix = "IMDS has no IAM role for this instance: attach an instance profile (aws ec2 associate-iam-instance-profile --instance-id <id> --iam-instance-profile Name=<profile>)"
	case strings.Contains(msg, "AWS_EC2_METADATA_DISABLED"):
		fix = "AWS_EC2_METADATA_DISABLED=true turns the instance role off, and no other source is configured: unset it, or give the agent another source"
	case (errors.As(err, &timeout) && timeout.Timeout() || strings.Contains(msg, "deadline exceeded")) && (c.imds || strings.Contains(msg, "ec2imds")):
		fix = "IMDS did not answer in time: inside a container the IMDSv2 token PUT needs HttpPutResponseHopLimit >= 2 (aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2)"
	case strings.HasPrefix(operation, "STS ") && (strings.Contains(msg, "request send failed") || strings.Contains(msg, "deadline exceeded")):
		fix = "the AWS SDK's STS client got no answer: check that this host reaches the STS endpoint of AWS_REGION (or AWS_ENDPOINT_URL_STS), and HTTPS_PROXY if it needs a proxy"
	default:
		fix = "check the instance profile (aws ec2 describe-iam-instance-profile-associations), or the AWS_* environment / profile"
	}
	return &credsError{err: err, msg: msg, fix: fix}
}

// credsError is a credential chain failure: failure.Credentials, the SDK's error
// (msg, which may be shortened from err's message) and the fix.
type credsError struct {
	err      error
	msg, fix string
}

func (e *credsError) Error() string {
	return fmt.Sprintf("%v: %s\nfix: %s", failure.Credentials, e.msg, e.fix)
}

func (e *credsError) Unwrap() []error { return []error{failure.Credentials, e.err} }
