"""A stand-in OpenID Connect provider for contract fuzzing: writes a discovery document and a
key set (one RSA key made here) for `python3 -m http.server` to serve, and signs RS256 tokens
with that key. Needs `pyjwt[crypto]`.

Usage:
  oidc_provider.py setup DIR ISSUER           # ISSUER = http://127.0.0.1:PORT/realms/fuzz
  oidc_provider.py token DIR ISSUER AUDIENCE SUBJECT [TTL_SECONDS]
"""

import json
import os
import sys
import time
from urllib.parse import urlparse

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "fuzz-rsa-1"


def setup(directory, issuer):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(os.path.join(directory, "provider-key.pem"), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": KID, "use": "sig", "alg": "RS256"})
    # The issuer's path, under the served directory.
    root = os.path.join(directory, urlparse(issuer).path.strip("/"))
    os.makedirs(os.path.join(root, ".well-known"), exist_ok=True)
    with open(os.path.join(root, ".well-known", "openid-configuration"), "w") as f:
        json.dump({"issuer": issuer, "jwks_uri": issuer + "/jwks"}, f)
    with open(os.path.join(root, "jwks"), "w") as f:
        json.dump({"keys": [jwk]}, f)


def token(directory, issuer, audience, subject, ttl="7200"):
    with open(os.path.join(directory, "provider-key.pem"), "rb") as f:
        key = f.read()
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": subject, "iat": now, "nbf": now,
              "exp": now + int(ttl)}
    print(jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID}))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"setup": setup, "token": token}[command](*args)
