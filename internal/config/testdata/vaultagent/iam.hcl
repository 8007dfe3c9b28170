# An iam login with the server ID header and a regional signing region,
# written to one file sink.
pid_file = "/run/vault-agent/pid"
exit_after_auth = true

vault {
  address = "https://vault.example.com:8200"
  ca_cert = "/etc/vault-agent/ca.pem"
}

auto_auth {
  method "aws" {
    mount_path = "auth/aws-prod"
    config = {
      type         = "iam"
      role         = "web-server"
      header_value = "vault.example.com"
      region       = "eu-west-1"
    }
  }

  sink "file" {
    config = {
      path = "/run/vault-agent/token"
      mode = 0600
    }
  }
}
