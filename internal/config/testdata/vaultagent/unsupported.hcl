# A login method xauth-agent does not do, and a wrapped sink (which it does).
vault {
  address = "https://vault.example.com:8200"
}

auto_auth {
  method "approle" {
    config = {
      role_id_file_path   = "/etc/vault-agent/role-id"
      secret_id_file_path = "/etc/vault-agent/secret-id"
    }
  }

  sink "file" {
    wrap_ttl = "5m"
    config = {
      path = "/run/vault-agent/token"
    }
  }
}
