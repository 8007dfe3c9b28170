// Package diagnose walks the chain an IAM login depends on and says, step by
// step, what it saw and what to change: the configuration, IMDS and its
// IMDSv2 token, the AWS credentials, the caller identity (sts:GetCallerIdentity
// sent directly) and its full ARN (iam:GetRole), what the login request is
// signed for, Vault and the mount, a real login (whose token is revoked
// straight away) and, with an operator token, the Vault role's binding and the
// mount's config/client checked against this agent's settings.
//
// Run returns a Report; WriteText and WriteJSON render it. No step prints a
// secret: not the Vault token, not the AWS secret key or session token, not
// the signed request's signature.
package diagnose

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/login"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// Status is a step's outcome.
type Status string

// Step outcomes. Warnings do not make a diagnosis fail.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Step names, in the order Run checks them. They are stable: scripts and the
// JSON output use them.
const (
	StepConfig       = "config"        // the configuration loads and is for the iam type
	StepIMDS         = "imds"          // the instance metadata service accepts a connection
	StepIMDSToken    = "imds-token"    // IMDSv2 hands out a session token
	StepCredentials  = "credentials"   // AWS credentials: source and expiry
	StepIdentity     = "identity"      // sts:GetCallerIdentity, sent directly, says who we are
	StepFullARN      = "full-arn"      // iam:GetRole: the role's ARN with its IAM path
	StepSigning      = "signing"       // what the login request is signed for
	StepVault        = "vault"         // Vault answers sys/health: TLS, seal, version, clock
	StepMount        = "mount"         // an aws auth method is enabled at auth/<mount>
	StepLogin        = "login"         // a real login (the token is revoked at once)
	StepRole         = "role"          // operator: the role's bound_iam_principal_arn against our ARNs
	StepServerConfig = "server-config" // operator: config/client's header, STS endpoint and region against ours
)

// Result is one step's outcome.
type Result struct {
	Name    string         `json:"name"`
	Status  Status         `json:"status"`
	Saw     string         `json:"saw"`           // what the step found; may span lines
	Fix     string         `json:"fix,omitempty"` // what to change, when it failed or warned
	Kind    failure.Kind   `json:"kind,omitzero"` // set on failures: config, credentials, unreachable or refused
	Details map[string]any `json:"details,omitempty"`
}

// Target is what is being diagnosed.
type Target struct {
	Source    string `json:"config_file,omitempty"`
	VaultAddr string `json:"vault_addr,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Mount     string `json:"mount,omitempty"`
	Role      string `json:"role,omitempty"`
	Type      string `json:"type,omitempty"`
}

// Report is the whole diagnosis.
type Report struct {
	Target Target   `json:"target"`
	Steps  []Result `json:"steps"`
}

// OK says whether no step failed (warnings and skips allowed).
func (r *Report) OK() bool {
	_, failed := r.FirstFailure()
	return !failed
}

// FirstFailure is the earliest failed step: the one to fix first, since later
// failures often follow from it.
func (r *Report) FirstFailure() (Result, bool) {
	for _, s := range r.Steps {
		if s.Status == Fail {
			return s, true
		}
	}
	return Result{}, false
}

// Step returns the named step's result.
func (r *Report) Step(name string) (Result, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return Result{}, false
}

// Options configure Run.
type Options struct {
	// Config is the agent's loaded configuration; when it could not be
	// loaded, ConfigErr says why and every other step is skipped.
	Config    *config.Config
	ConfigErr error

	// STSEndpoint and IAMEndpoint, when set, are where the direct
	// sts:GetCallerIdentity and iam:GetRole requests are sent instead of the
	// endpoints they are signed for (scheme and host only). The signed Host
	// header is kept, as Vault keeps it when it forwards to its sts_endpoint.
	// For tests against a loopback fake, or an air-gapped proxy.
	STSEndpoint string
	IAMEndpoint string

	// OperatorToken is a Vault token that may read auth/<mount>/role/<role>
	// and auth/<mount>/config/client; "" skips those checks.
	OperatorToken string

	IMDSTimeout time.Duration    // per IMDS step; default 2s
	Timeout     time.Duration    // per AWS or Vault request; default 10s
	HTTPClient  *http.Client     // for AWS requests; nil: a client that follows no redirects
	Now         func() time.Time // nil: time.Now
	Log         *zap.Logger      // the login client's logger; nil: none
}

// check is one step of the walk.
type check struct {
	name string
	run  func(context.Context) Result
}

// Run walks every step in order and returns the report. Steps whose
// prerequisites failed are skipped, saying which.
func Run(ctx context.Context, o Options) *Report {
	d := newDiagnosis(o)
	rep := &Report{}
	if c := o.Config; c != nil {
		rep.Target = Target{Source: c.Source, VaultAddr: c.Vault.Address(), Namespace: c.Vault.Namespace,
			Mount: c.Auth.Mount, Role: c.Auth.Role, Type: c.Auth.Type}
	}
	for _, c := range d.checks() {
		var r Result
		if c.name != StepConfig && !d.cfgOK {
			r = skipped("the configuration is unusable (see config)")
		} else {
			r = c.run(ctx)
		}
		r.Name = c.name
		rep.Steps = append(rep.Steps, r)
	}
	return rep
}

func (d *diagnosis) checks() []check {
	return []check{
		{StepConfig, d.checkConfig},
		{StepIMDS, d.checkIMDS},
		{StepIMDSToken, d.checkIMDSToken},
		{StepCredentials, d.checkCredentials},
		{StepIdentity, d.checkIdentity},
		{StepFullARN, d.checkFullARN},
		{StepSigning, d.checkSigning},
		{StepVault, d.checkVault},
		{StepMount, d.checkMount},
		{StepLogin, d.checkLogin},
		{StepRole, d.checkRole},
		{StepServerConfig, d.checkServerConfig},
	}
}

// diagnosis carries what earlier steps learnt to later ones.
type diagnosis struct {
	o    Options
	cfg  *config.Config
	http *http.Client
	now  func() time.Time
	log  *zap.Logger

	cfgOK bool

	// AWS side.
	aws           *login.AWS
	provider      aws.CredentialsProvider // aws.Credentials
	providerErr   error
	fromIMDS      bool             // the SDK's chain ends at the instance role
	baseCreds     *aws.Credentials // with assume_role_arn: what the role is assumed with
	imdsEndpoint  string
	imdsUp        bool
	imdsTokenOK   bool
	imdsRoles     []string // names under iam/security-credentials/
	imdsCreds     *imdsCredentialInfo
	imdsRolesErr  error
	credsDone     bool
	creds         *aws.Credentials
	credsErr      error
	signed        *signedRequest
	caller        *callerIdentity
	principal     Principal
	fullARN       string
	loginRefusal  *vault.Error
	loginAccepted bool

	// Vault side.
	vault   *api.Client
	vaultOK bool
	mountOK bool
}

func newDiagnosis(o Options) *diagnosis {
	if o.IMDSTimeout <= 0 {
		o.IMDSTimeout = 2 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	d := &diagnosis{o: o, cfg: o.Config, http: o.HTTPClient, now: o.Now, log: o.Log}
	if d.http == nil {
		d.http = &http.Client{
			Timeout:       o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	return d
}

func skipped(why string) Result { return Result{Status: Skip, Saw: "skipped: " + why} }

func failed(k failure.Kind, saw, fix string) Result {
	return Result{Status: Fail, Kind: k, Saw: saw, Fix: fix}
}
