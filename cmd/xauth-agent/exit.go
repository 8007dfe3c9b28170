package main

const exitCodesHelp = `Exit codes:
  0  token obtained and written to every sink
  1  unexpected runtime failure
  2  usage or configuration error; daemon: another agent holds the state directory
  3  AWS credentials (the AWS SDK's chain: environment, web identity, profile,
     SSO, credential_process, assumed role, IMDS) or the EC2 instance
     identity document unavailable
  4  Vault unreachable or unavailable (network error, HTTP 5xx or 429)
  5  login refused by Vault (role, principal binding, server ID header, region)
  6  a sink cannot be written (directory missing, a symlink at the target
     or an untrusted one above it)
  7  ec2 login refused for a client nonce mismatch: the nonce file was lost or
     the instance restored; put the old nonce back or
     vault delete auth/<mount>/identity-accesslist/<instance-id>
`
