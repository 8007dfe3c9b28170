# Static AWS keys in the method config.
vault {
  address = "https://vault.example.com:8200"
}

auto_auth {
  method "aws" {
    config = {
      type       = "iam"
      role       = "web-server"
      access_key = "AKIAEXAMPLEEXAMPLE00"
      secret_key = "not-a-real-secret-key"
    }
  }

  sink "file" {
    dh_type = "curve25519"
    dh_path = "/etc/vault-agent/dh.json"
    config = {
      path = "/run/vault-agent/token"
    }
  }
}
