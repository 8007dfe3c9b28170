// Package awsfake is a loopback emulator of the few AWS STS, IAM and EC2
// query-API actions that Vault's aws auth method uses, for end-to-end tests
// that run a real Vault server against it.
//
// What it emulates:
//
//   - SigV4 authentication, checked for real on every request: the
//     Authorization header is parsed, the access key is looked up among the
//     configured identities (and among the temporary credentials that
//     AssumeRole, AssumeRoleWithWebIdentity and the SSO portal have
//     issued), the session token is required for temporary
//     credentials, the canonical request is rebuilt from the received request
//     and the signature is recomputed with the secret key and compared in
//     constant time. The credential scope must fit the Host like real AWS
//     (global sts.amazonaws.com and iam.amazonaws.com only accept us-east-1,
//     sts.<region>.amazonaws.com and ec2.<region>.amazonaws.com only
//     accept <region>; any other host, such as the fake's own 127.0.0.1
//     address, accepts any region), the service in the scope must fit the
//     action, and X-Amz-Date must be within MaxSkew (15 minutes) of Now.
//     Replays inside that window are accepted, as real STS does (Vault
//     forwards the same signed GetCallerIdentity twice per login).
//   - sts:GetCallerIdentity (the request a Vault client signs and Vault
//     forwards, to path "//" with the client's Host header), answered with
//     Content-Type exactly "text/xml" as Vault requires.
//   - sts:AssumeRole against configured trust roles (callers listed by ARN,
//     or a whole account through its arn:aws:iam::<account>:root ARN, and an
//     optional ExternalId), minting working temporary credentials (ASIA...
//     key, secret, session token) that expire; the assumed-role ARN drops the
//     role's path, as AWS does.
//   - sts:AssumeRoleWithWebIdentity, unsigned as real STS takes it: a
//     token listed in a trust role's WebIdentityTokens (opaque to the
//     fake; no JWT is parsed) gets that role's credentials.
//   - The IAM Identity Center portal's GetRoleCredentials (GET
//     /federation/credentials, the access token in
//     x-amz-sso_bearer_token, JSON answers and errors): an SSOGrant's token
//     gets credentials for its permission set's role, whose assumed-role
//     ARN names the reserved SSO role and the user.
//   - iam:GetRole, iam:GetUser and iam:GetInstanceProfile, answered only
//     inside the caller's account.
//   - ec2:DescribeInstances for configured instances (always "running"),
//     answered only inside the caller's account and, when the instance has a
//     Region, only in that region.
//   - The XML error shapes of the query APIs (ErrorResponse for STS/IAM,
//     Response/Errors for EC2), with the codes and messages real AWS uses for
//     the cases above (SignatureDoesNotMatch, InvalidClientTokenId,
//     ExpiredToken, AccessDenied, NoSuchEntity, InvalidInstanceID.NotFound,
//     InvalidAction, ...).
//
// The canonical URI: Vault forwards the client's request to
// sts_endpoint + "/" + RequestURI, so a client that signed
// https://sts.amazonaws.com/ arrives at path "//". Real AWS normalises the
// path of non-S3 requests before checking the signature, and so does the
// fake: runs of '/' are collapsed to one before the path is (double-)encoded
// as the canonical URI, so "//" verifies as the "/" the client signed.
//
// What it does not emulate: IAM policies (apart from the trust roles'
// allowed callers, anyone may call anything in their own account), SigV2,
// presigned (query-string) SigV4, SigV4a, chunked/streaming payloads,
// pagination, tags, instance states other than running, any action not listed
// above, JSON protocols, and the other AWS partitions' endpoint names. It
// never logs anything; its error messages and Rejections never contain
// secret keys or session tokens.
//
// It uses only the Go standard library and listens on 127.0.0.1 only.
package awsfake
