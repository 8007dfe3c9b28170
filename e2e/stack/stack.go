// Package stack runs the seed scenario on loopback: a real Vault server
// (vault-loopback, built from github.com/hashicorp/vault), the awsfake
// STS/IAM/EC2 emulator, and one amazon-ec2-metadata-mock per simulated
// instance, with Vault configured as the seed's steps 9-10 do. The e2e
// tests, the bench and `make demo` share it. StartCluster adds a Vault HA
// cluster (Cluster) on the same AWS fake and emulators. Close stops every
// process it started.
package stack

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/e2e/awsfake"
)

// The seed scenario's facts (shared/SCENARIO.md).
const (
	PrimaryAccount   = "111111111111"
	SecondaryAccount = "222222222222"
	VaultUserARN     = "arn:aws:iam::111111111111:user/vault-primary"
	TrustRoleARN     = "arn:aws:iam::222222222222:role/trust-relationship-for-primary-aws-and-vault"
	HeaderValue      = "vault.example.internal:8200"
	Mount            = "aws"
	vaultAccessKey   = "AKIAVAULTPRIMARY0001"
	vaultSecretKey   = "vault-primary-secret-key"
)

// AdminPolicy is the seed's `admin` policy.
const AdminPolicy = `path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }`

// Instance is one simulated EC2 instance in the secondary account.
type Instance struct {
	Name       string // client1, client2, pathed
	RoleName   string // instance role name
	RolePath   string // IAM path of the role, "/" for none
	InstanceID string
	Creds      awsfake.Identity // the instance-role credentials IMDS serves
	IMDS       string           // http://127.0.0.1:port of its metadata emulator
	AWS        string           // the AWS fake's URL, for every AWS service
}

// RoleARN is the full IAM ARN of the instance role (with its path).
func (i *Instance) RoleARN() string {
	return "arn:aws:iam::" + SecondaryAccount + ":role" + i.RolePath + i.RoleName
}

// Env is the environment an agent process on this instance runs with:
// the IMDS endpoint, no shared AWS files, and nothing that would reach a
// real AWS. Every AWS service the SDK may call is the AWS fake: STS (web
// identity, assumed roles), the SSO portal, SSO OIDC and sign-in, each by
// its own AWS_ENDPOINT_URL_<SERVICE> (the clients inside the SDK's
// credential chain do not read AWS_ENDPOINT_URL, which the SDK resolves
// after the chain), any other by AWS_ENDPOINT_URL. A request that would
// still leave the machine goes to a proxy that is not there (loopback
// addresses are never proxied), so it fails at once instead of reaching
// the internet.
func (i *Instance) Env() []string {
	return []string{
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + i.IMDS,
		"AWS_ENDPOINT_URL=" + i.AWS, "AWS_ENDPOINT_URL_STS=" + i.AWS, "AWS_ENDPOINT_URL_SSO=" + i.AWS,
		"AWS_ENDPOINT_URL_SSO_OIDC=" + i.AWS, "AWS_ENDPOINT_URL_SIGNIN=" + i.AWS,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"HTTPS_PROXY=" + NoProxy, "HTTP_PROXY=" + NoProxy, "NO_PROXY=",
		"HOME=" + os.TempDir(), "PATH=" + os.Getenv("PATH"),
	}
}

// NoProxy is a proxy address where nothing listens.
const NoProxy = "http://127.0.0.1:1"

// CredsEnv is the instance's credentials as AWS_* variables (what
// HashiCorp's reference client needs, since it ignores a custom IMDS
// endpoint).
func (i *Instance) CredsEnv() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + i.Creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + i.Creds.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + i.Creds.SessionToken,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Options say where the helper binaries are.
type Options struct {
	BinDir string           // holds vault-loopback and ec2-metadata-mock
	Logs   io.Writer        // child process output; nil = discarded
	Now    func() time.Time // the fake STS clock; nil = time.Now
}

// Stack is the running scenario.
type Stack struct {
	VaultAddr string
	RootToken string
	AWS       *awsfake.Fake
	Instances map[string]*Instance
	Sources   *Sources    // principals of the AWS SDK's other credential sources
	Vault     *api.Client // root client

	opts    Options
	tmp     string
	logOnce sync.Once
	logW    io.Writer

	mu       sync.Mutex // guards what StartCluster adds after Start
	procs    []*exec.Cmd
	stdins   []io.Closer
	clusters []*Cluster
}

// BinDir finds the binaries make builds: $XAUTH_BIN_DIR (the Makefile
// exports it), else bin/ of the repository holding the working directory
// (the directory above the one with e2e/go.mod), whichever package of the
// e2e module the test runs in.
func BinDir() string {
	if d := os.Getenv("XAUTH_BIN_DIR"); d != "" {
		return d
	}
	wd, _ := os.Getwd()
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "e2e", "go.mod")); err == nil {
			return filepath.Join(d, "bin")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(wd, "..", "bin") // not in the repository: the old guess
		}
	}
}

// PositiveEnv reads the positive integer in the environment variable name,
// def when it is unset; anything else is an error that names it.
func PositiveEnv(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive whole number", name, v)
	}
	return n, nil
}

// Start brings the whole scenario up. On error everything started so far
// is stopped.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	started := &Stack{Instances: map[string]*Instance{}, opts: o}
	s = started
	defer func() {
		if err != nil { // "return nil, err" has already cleared s
			started.Close()
			s = nil
		}
	}()
	if s.tmp, err = os.MkdirTemp("", "xauth-stack-"); err != nil {
		return nil, err
	}
	instances := []*Instance{
		{Name: "client1", RoleName: "vault-secondary-role1", RolePath: "/", InstanceID: "i-0c11e47100000001"},
		{Name: "client2", RoleName: "secondary-role2", RolePath: "/", InstanceID: "i-0c11e47200000002"},
		{Name: "pathed", RoleName: "vault-secondary-x", RolePath: "/team/", InstanceID: "i-0ba7ed0000000003"},
	}
	opts := awsfake.Options{
		Now: o.Now,
		Identities: []awsfake.Identity{{
			AccessKeyID: vaultAccessKey, SecretAccessKey: vaultSecretKey,
			ARN: VaultUserARN, UserID: "AIDAVAULTPRIMARY0001", Account: PrimaryAccount,
		}},
		TrustRoles: []awsfake.TrustRole{{ARN: TrustRoleARN, AllowedCallers: []string{VaultUserARN}}},
		Roles:      []awsfake.Role{{Account: SecondaryAccount, Path: "/", Name: "trust-relationship-for-primary-aws-and-vault", ID: "AROATRUST000000000001"}},
	}
	for n, in := range instances {
		roleID := fmt.Sprintf("AROAINSTANCEROLE%04d", n+1)
		in.Creds = awsfake.Identity{
			AccessKeyID:     fmt.Sprintf("ASIA%sKEY%04d", strings.ToUpper(in.Name), n+1),
			SecretAccessKey: in.Name + "-instance-secret",
			SessionToken:    in.Name + "-session-token",
			ARN:             fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", SecondaryAccount, in.RoleName, in.InstanceID),
			UserID:          roleID + ":" + in.InstanceID,
			Account:         SecondaryAccount,
		}
		opts.Identities = append(opts.Identities, in.Creds)
		opts.Roles = append(opts.Roles, awsfake.Role{Account: SecondaryAccount, Path: in.RolePath, Name: in.RoleName, ID: roleID})
		s.Instances[in.Name] = in
	}
	s.Sources = newSources()
	s.Sources.addTo(&opts)
	if s.AWS, err = awsfake.Start(opts); err != nil {
		return nil, fmt.Errorf("start aws fake: %w", err)
	}
	hello, err := s.launchVault(ctx)
	if err != nil {
		return nil, err
	}
	s.VaultAddr, s.RootToken = hello.Addr, hello.RootToken
	if s.Vault, err = rootClient(s.VaultAddr, s.RootToken); err != nil {
		return nil, err
	}
	for _, in := range instances {
		if in.IMDS, err = s.startIMDS(ctx, in); err != nil {
			return nil, err
		}
		in.AWS = s.AWS.URL()
	}
	if err = configureScenario(ctx, s.Vault, s.AWS.URL()); err != nil {
		return nil, fmt.Errorf("configure vault: %w", err)
	}
	return s, nil
}

// logs is where child processes write; several write at once, so the
// caller's writer is guarded by a lock.
func (s *Stack) logs() io.Writer {
	if s.opts.Logs == nil {
		return io.Discard
	}
	s.logOnce.Do(func() { s.logW = &lockedWriter{w: s.opts.Logs} })
	return s.logW
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// vaultHello is the line vault-loopback prints once Vault is up.
type vaultHello struct {
	Addr      string   `json:"addr"`  // the first node
	Addrs     []string `json:"addrs"` // every node
	RootToken string   `json:"root_token"`
	UnsealKey string   `json:"unseal_key"` // base64, as sys/unseal takes it
	Control   string   `json:"control"`    // the control API (stop and start nodes)
}

// launchVault starts a vault-loopback process with args, waits for its
// hello line and leaves the process to Close.
func (s *Stack) launchVault(ctx context.Context, args ...string) (vaultHello, error) {
	var hello vaultHello
	cmd := exec.Command(filepath.Join(s.opts.BinDir, "vault-loopback"), args...)
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true")
	cmd.Stderr = s.logs()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return hello, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return hello, err
	}
	if err := cmd.Start(); err != nil {
		return hello, fmt.Errorf("start vault-loopback (build it with make build-e2e): %w", err)
	}
	s.mu.Lock()
	s.procs, s.stdins = append(s.procs, cmd), append(s.stdins, stdin)
	s.mu.Unlock()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		if !ok {
			return hello, errors.New("vault-loopback exited before printing its address")
		}
		if err := json.Unmarshal([]byte(l), &hello); err != nil {
			return hello, fmt.Errorf("vault-loopback said %q: %w", l, err)
		}
		return hello, nil
	case <-time.After(60 * time.Second):
		return hello, errors.New("vault-loopback did not start within 60s")
	case <-ctx.Done():
		return hello, ctx.Err()
	}
}

// rootClient is a Vault client for addr with the root token and without
// vault/api's own retries.
func rootClient(addr, rootToken string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(rootToken)
	return c, nil
}

// configureScenario does the seed's steps 9-10 over Vault's HTTP API,
// with c's root token, pointing Vault's AWS calls at awsURL.
func configureScenario(ctx context.Context, c *api.Client, awsURL string) error {
	if err := c.Sys().PutPolicyWithContext(ctx, "admin", AdminPolicy); err != nil {
		return err
	}
	return enableAWSMount(ctx, c, awsURL, Mount, HeaderValue)
}

// EnableAWSMount enables the aws auth method at mount and configures it
// like the seed: config/client (vault-primary's keys, endpoints at the
// fake), config/sts for the secondary account, and the three roles.
func (s *Stack) EnableAWSMount(ctx context.Context, mount, headerValue string) error {
	return enableAWSMount(ctx, s.Vault, s.AWS.URL(), mount, headerValue)
}

func enableAWSMount(ctx context.Context, c *api.Client, awsURL, mount, headerValue string) error {
	if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, mount, &api.EnableAuthOptions{Type: "aws"}); err != nil {
		return err
	}
	writes := []struct {
		path string
		data map[string]any
	}{
		{"config/client", map[string]any{
			"access_key": vaultAccessKey, "secret_key": vaultSecretKey,
			"sts_endpoint": awsURL, "iam_endpoint": awsURL, "endpoint": awsURL,
			"sts_region": "us-east-1", "max_retries": 0,
			"iam_server_id_header_value": headerValue,
		}},
		{"config/sts/" + SecondaryAccount, map[string]any{"sts_role": TrustRoleARN}},
		{"role/vault-role", map[string]any{
			"auth_type":               "iam",
			"bound_iam_principal_arn": []string{"arn:aws:iam::222222222222:role/vault-secondary*", "arn:aws:iam::222222222222:role/secondary*"},
			"policies":                "admin",
		}},
		{"role/vault-role1", map[string]any{"auth_type": "iam", "bound_iam_principal_arn": "arn:aws:iam::222222222222:role/vault-secondary*", "policies": "admin"}},
		{"role/vault-role2", map[string]any{"auth_type": "iam", "bound_iam_principal_arn": "arn:aws:iam::222222222222:role/secondary*", "policies": "admin"}},
	}
	for _, w := range writes {
		if _, err := c.Logical().WriteWithContext(ctx, "auth/"+mount+"/"+w.path, w.data); err != nil {
			return fmt.Errorf("write auth/%s/%s: %w", mount, w.path, err)
		}
	}
	return nil
}

func (s *Stack) startIMDS(ctx context.Context, in *Instance) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	if err := s.writeIMDSConfig(in, port, time.Now().Add(6*time.Hour)); err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(s.opts.BinDir, "ec2-metadata-mock"), "-c", s.imdsConfigPath(in), "-w")
	cmd.Stdout, cmd.Stderr = s.logs(), s.logs()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start ec2-metadata-mock (install it with make tools): %w", err)
	}
	s.mu.Lock()
	s.procs = append(s.procs, cmd)
	s.mu.Unlock()
	url := "http://127.0.0.1:" + port
	if err := waitIMDS(ctx, url); err != nil {
		return "", fmt.Errorf("imds for %s: %w", in.Name, err)
	}
	return url, nil
}

func (s *Stack) imdsConfigPath(in *Instance) string {
	return filepath.Join(s.tmp, "imds-"+in.Name+".json")
}

// writeIMDSConfig (re)writes an instance's emulator config; the emulator
// runs with -w and picks up changes, which is how credentials rotate.
func (s *Stack) writeIMDSConfig(in *Instance, port string, expires time.Time) error {
	cfg := map[string]any{
		"imdsv2": true,
		"server": map[string]string{"hostname": "127.0.0.1", "port": port},
		"metadata": map[string]any{
			"paths": map[string]string{
				"iam-security-credentials": "/latest/meta-data/iam/security-credentials/" + in.RoleName,
			},
			"values": map[string]any{
				"instance-id":                   in.InstanceID,
				"iam-security-credentials-role": in.RoleName,
				"iam-security-credentials": map[string]string{
					"code": "Success", "type": "AWS-HMAC",
					"accesskeyid": in.Creds.AccessKeyID, "secretaccesskey": in.Creds.SecretAccessKey,
					"token":       in.Creds.SessionToken,
					"lastupdated": time.Now().UTC().Format(time.RFC3339),
					"expiration":  expires.UTC().Format(time.RFC3339),
				},
			},
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.imdsConfigPath(in) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.imdsConfigPath(in))
}

func waitIMDS(ctx context.Context, url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, url+"/latest/api/token", nil)
		req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("emulator did not answer within 20s")
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port), nil
}

// Secret is a value no log may show, and what kind of secret it is.
type Secret = awsfake.Secret

// Secrets are the stack's secrets: Vault's root token, the AWS keys Vault
// signs with, every instance's secret key and session token, and every
// other secret the AWS fake knows (the credential sources' keys and tokens,
// and the credentials it has minted so far).
func (s *Stack) Secrets() []Secret {
	out := []Secret{{Kind: "vault root token", Value: s.RootToken}, {Kind: "aws secret access key (vault-primary)", Value: vaultSecretKey}}
	s.mu.Lock()
	for _, c := range s.clusters {
		out = append(out, Secret{Kind: "vault root token (cluster)", Value: c.RootToken}, Secret{Kind: "vault unseal key (cluster)", Value: c.unsealKey})
	}
	s.mu.Unlock()
	for _, in := range s.Instances {
		out = append(out,
			Secret{Kind: "aws secret access key (" + in.Name + ")", Value: in.Creds.SecretAccessKey},
			Secret{Kind: "aws session token (" + in.Name + ")", Value: in.Creds.SessionToken})
	}
	seen := map[string]bool{}
	for _, sec := range out {
		seen[sec.Value] = true
	}
	for _, sec := range s.AWS.Secrets() {
		if !seen[sec.Value] {
			seen[sec.Value] = true
			out = append(out, sec)
		}
	}
	return out
}

// Close stops every process the stack started (clusters included) and
// removes its files.
func (s *Stack) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.stdins {
		_ = in.Close()
	}
	for _, p := range s.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range s.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	if s.AWS != nil {
		s.AWS.Close()
	}
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}
