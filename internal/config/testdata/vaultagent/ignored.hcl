# A full Vault Agent setup: xauth-agent takes the login and the sink and
# ignores the templates, the listener, the cache and telemetry.
vault {
  address         = "https://vault.example.com:8200"
  tls_skip_verify = true
}

auto_auth {
  method "aws" {
    config = {
      type = "iam"
      role = "app"
    }
  }

  sink "file" {
    config = {
      path = "/run/vault-agent/token"
      mode = 640
    }
  }
}

cache {
  use_auto_auth_token = true
}

listener "tcp" {
  address     = "127.0.0.1:8100"
  tls_disable = true
}

template {
  source      = "/etc/vault-agent/db.ctmpl"
  destination = "/etc/app/db.json"
}

telemetry {
  prometheus_retention_time = "30s"
}
