package stack

import (
	"fmt"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/awsfake"
)

// Sources are the principals behind the AWS SDK's credential sources other
// than the instance role, all in the secondary account, each mapping to one
// of the seed's Vault roles (the SSO role to none: its path needs a role of
// its own, see SSORoleARN):
//
//   - web identity: WebIdentityToken assumes WebIdentityRoleARN
//     (vault-secondary-web: vault-role1) with AssumeRoleWithWebIdentity;
//   - a profile's role_arn with source_profile: Deployer's long-term keys
//     assume DeployRoleARN (secondary-deploy: vault-role2);
//   - credential_process: the process prints Process, a session of
//     secondary-process (vault-role2);
//   - IAM Identity Center: SSO's access token gets credentials for the
//     permission set VaultSecondary, role SSORoleARN;
//   - the agent's own assume_role_arn: any principal of the account may
//     assume ChainedRoleARN (vault-secondary-chained: vault-role1) with
//     ChainedExternalID;
//   - static keys in the passwd home directory's ~/.aws/credentials: Home,
//     a session of vault-secondary-home (vault-role1).
type Sources struct {
	WebIdentityRoleARN string
	WebIdentityToken   string
	Deployer           awsfake.Identity
	DeployRoleARN      string
	Process            awsfake.Identity
	SSO                awsfake.SSOGrant
	SSORoleARN         string // with IAM Identity Center's path /aws-reserved/sso.amazonaws.com/
	ChainedRoleARN     string
	ChainedExternalID  string
	Home               awsfake.Identity
}

func roleIn(name string) string { return "arn:aws:iam::" + SecondaryAccount + ":role/" + name }

func newSources() *Sources {
	session := func(role, name, key string) awsfake.Identity {
		return awsfake.Identity{
			AccessKeyID: key, SecretAccessKey: role + "-secret", SessionToken: role + "-session-token",
			ARN:    fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", SecondaryAccount, role, name),
			UserID: awsfake.MakeID("AROA", roleIn(role)) + ":" + name, Account: SecondaryAccount,
		}
	}
	return &Sources{
		WebIdentityRoleARN: roleIn("vault-secondary-web"),
		// Shaped like a JWT; the fake does not parse it.
		WebIdentityToken: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDp3ZWIifQ.fake-web-identity-signature",
		Deployer: awsfake.Identity{
			AccessKeyID: "AKIACIDEPLOYER000001", SecretAccessKey: "ci-deployer-secret",
			ARN: "arn:aws:iam::" + SecondaryAccount + ":user/ci-deployer", UserID: "AIDACIDEPLOYER000001", Account: SecondaryAccount,
		},
		DeployRoleARN: roleIn("secondary-deploy"),
		Process:       session("secondary-process", "batch", "ASIAPROCESS000000001"),
		SSO: awsfake.SSOGrant{
			AccessToken: "aoaFakeSSOAccessToken0123456789", AccountID: SecondaryAccount, RoleName: "VaultSecondary",
			IAMRoleName: "AWSReservedSSO_VaultSecondary_0a1b2c3d4e5f6a7b", UserName: "alice@example.com",
		},
		SSORoleARN:        roleIn("aws-reserved/sso.amazonaws.com/AWSReservedSSO_VaultSecondary_0a1b2c3d4e5f6a7b"),
		ChainedRoleARN:    roleIn("vault-secondary-chained"),
		ChainedExternalID: "xauth-e2e-external-id",
		Home:              session("vault-secondary-home", "passwd", "ASIAHOME000000000001"),
	}
}

// addTo registers the sources' identities, roles and trust with the fake.
func (s *Sources) addTo(o *awsfake.Options) {
	o.Identities = append(o.Identities, s.Deployer, s.Process, s.Home)
	for _, r := range []struct{ path, name string }{
		{"/", "vault-secondary-web"}, {"/", "secondary-deploy"}, {"/", "secondary-process"}, {"/", "vault-secondary-chained"},
		{"/", "vault-secondary-home"}, {"/aws-reserved/sso.amazonaws.com/", s.SSO.IAMRoleName},
	} {
		o.Roles = append(o.Roles, awsfake.Role{Account: SecondaryAccount, Path: r.path, Name: r.name})
	}
	o.TrustRoles = append(o.TrustRoles,
		awsfake.TrustRole{ARN: s.WebIdentityRoleARN, WebIdentityTokens: []string{s.WebIdentityToken}},
		awsfake.TrustRole{ARN: s.DeployRoleARN, AllowedCallers: []string{s.Deployer.ARN}},
		awsfake.TrustRole{ARN: s.ChainedRoleARN, AllowedCallers: []string{"arn:aws:iam::" + SecondaryAccount + ":root"}, ExternalID: s.ChainedExternalID},
	)
	o.SSOGrants = append(o.SSOGrants, s.SSO)
}

// SSOCache is the content of the SSO token cache file `aws sso login`
// writes for an sso-session with startURL and region: the access token,
// valid until expires.
func (s *Sources) SSOCache(startURL, region string, expires time.Time) string {
	return fmt.Sprintf(`{"startUrl": %q, "region": %q, "accessToken": %q, "expiresAt": %q}`,
		startURL, region, s.SSO.AccessToken, expires.UTC().Format(time.RFC3339))
}
