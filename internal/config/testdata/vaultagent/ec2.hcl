# An ec2 login that keeps a fixed client nonce, in the unlabelled
# method { type = ... } form, with the sink mode left to the default.
vault {
  address = "https://vault.example.com:8200"
}

auto_auth {
  method {
    type = "aws"
    config = {
      type  = "ec2"
      role  = "batch"
      nonce = "5defbf9e-a8f9-3063-bdfc-54b7a42a1f95"
    }
  }

  sink {
    type = "file"
    config = {
      path = "/var/run/vault-agent/token"
    }
  }
}
