#!/usr/bin/env python3
"""Drive Linkwell's token endpoint with a generic OAuth 2 client library (Authlib), as an
integrator would, and try the JWT cases a resource server must refuse.

Usage (see docs/oauth-clients.md):
    python3 -m venv target/oauth-venv
    target/oauth-venv/bin/pip install authlib==1.9.10 requests cryptography pyjwt
    cargo build --release
    target/oauth-venv/bin/python tests/manual/oauth_clients.py target/release/linkwell

It starts the binary on a fresh SQLite file, registers systems through the API as an
administrator, and prints one line per case: what was tried, what was expected, what came.
Exit status 1 when any case differs from what is expected.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

RESULTS = []


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib signs assertions living an hour; Linkwell, like NHS England's signed-JWT
    pattern, takes at most five minutes, so the client asks for five."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id,
                                    token_endpoint=token_endpoint, claims=self.claims,
                                    header=self.headers, alg=self.alg, expires_in=300)


def check(case, expected, got):
    RESULTS.append((case, expected, got, expected == got))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(n, length=None):
    raw = n.to_bytes(length or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ec_jwk(key, kid):
    pub = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": b64(pub.x, 32), "y": b64(pub.y, 32)}


def rsa_jwk(key, kid):
    pub = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(pub.n), "e": b64(pub.e)}


def hs256_by_hand(claims, secret, kid):
    """HS256 over a public key's bytes, built by hand: libraries rightly refuse to."""
    import hashlib
    import hmac

    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{part(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def start_provider():
    """A stand-in OpenID Connect provider on loopback: discovery document and key set."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}/realms/trial"
    documents = {
        "/realms/trial/.well-known/openid-configuration": {"issuer": issuer, "jwks_uri": f"{issuer}/jwks"},
        "/realms/trial/jwks": {"keys": [rsa_jwk(key, "idp-1")]},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return issuer, key, server


def main(binary):
    workdir = tempfile.mkdtemp(prefix="lw-oauth-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token_url = f"{base}/v1/auth/token"
    issuer, idp_key, idp = start_provider()
    env = dict(os.environ, DATABASE_URL=f"sqlite://{workdir}/lw.db", LINKWELL_BIND=f"127.0.0.1:{port}",
               LINKWELL_PUBLIC_URL=base, RUST_LOG="warn",
               LINKWELL_PUBLIC_RATE_PER_MINUTE="600", LINKWELL_OIDC_ISSUER=issuer,
               LINKWELL_OIDC_AUDIENCE="linkwell-trial")
    subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/health/live", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        admin = subprocess.run([binary, "token", "--role", "admin", "--sub", "oauth-trial", "--ttl", "600"],
                               env=env, check=True, capture_output=True, text=True).stdout.strip()
        as_admin = {"Authorization": f"Bearer {admin}"}

        def register(body):
            r = requests.post(f"{base}/v1/api-clients", json=body, headers=as_admin)
            assert r.status_code == 201, r.text
            return r.json()

        def api_status(token):
            return requests.get(f"{base}/v1/referrals", headers={"Authorization": f"Bearer {token}"}).status_code

        # client_secret_basic and client_secret_post, as Authlib sends them.
        secret_client = register({"name": "Trial GP system", "role": "coordinator"})
        for method in ("client_secret_basic", "client_secret_post"):
            session = OAuth2Session(secret_client["client_id"], secret_client["client_secret"],
                                    token_endpoint_auth_method=method)
            token = session.fetch_token(token_url, grant_type="client_credentials")
            check(f"authlib {method}: token issued", ("Bearer", True),
                  (token["token_type"], 0 < token["expires_in"] <= 300))
            check(f"authlib {method}: token opens the API", 200, api_status(token["access_token"]))
        wrong = OAuth2Session(secret_client["client_id"], "not-the-secret",
                              token_endpoint_auth_method="client_secret_basic")
        try:
            wrong.fetch_token(token_url, grant_type="client_credentials")
            check("authlib wrong secret", "invalid_client", "issued")
        except Exception as e:  # Authlib raises OAuthError carrying the RFC 6749 error code
            check("authlib wrong secret", "invalid_client", getattr(e, "error", str(e)))

        # private_key_jwt (RFC 7523) with ES256 and RS256 keys, Authlib signing the assertion.
        ec_key = ec.generate_private_key(ec.SECP256R1())
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for alg, key, jwk in (("ES256", ECKey.import_key(pem(ec_key)), ec_jwk(ec_key, "trial-ec")),
                              ("RS256", RSAKey.import_key(pem(rsa_key)), rsa_jwk(rsa_key, "trial-rsa"))):
            client = register({"name": f"Trial {alg} system", "role": "coordinator", "jwks": {"keys": [jwk]}})
            session = OAuth2Session(client["client_id"], key,
                                    token_endpoint_auth_method=ShortLivedPrivateKeyJWT(
                                        token_url, alg=alg, headers={"kid": jwk["kid"]}))
            token = session.fetch_token(token_url, grant_type="client_credentials")
            check(f"authlib private_key_jwt {alg}: token issued", "Bearer", token["token_type"])
            default = OAuth2Session(client["client_id"], key, token_endpoint_auth_method=PrivateKeyJWT(
                token_url, alg=alg, headers={"kid": jwk["kid"]}))
            try:
                default.fetch_token(token_url, grant_type="client_credentials")
                check(f"authlib private_key_jwt {alg}, its default 1 h assertion", "invalid_client", "issued")
            except Exception as e:
                check(f"authlib private_key_jwt {alg}, its default 1 h assertion", "invalid_client",
                      getattr(e, "error", str(e)))
            check(f"authlib private_key_jwt {alg}: token opens the API", 200, api_status(token["access_token"]))
            last_token = token["access_token"]
            last_client = client

        # The same assertion twice: the jti is used once.
        now = int(time.time())
        claims = {"iss": last_client["client_id"], "sub": last_client["client_id"], "aud": token_url,
                  "jti": "trial-replay", "iat": now, "exp": now + 120}
        assertion = jwt.encode(claims, pem(rsa_key), algorithm="RS256", headers={"kid": "trial-rsa"})
        form = {"grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion}
        first = requests.post(token_url, data=form)
        second = requests.post(token_url, data=form)
        check("assertion replayed (same jti)", (200, 401), (first.status_code, second.status_code))
        for case, bad in (("assertion aud is another URL", {**claims, "jti": "a1", "aud": f"{base}/other"}),
                          ("assertion exp 10 minutes ahead", {**claims, "jti": "a2", "exp": now + 600}),
                          ("assertion expired", {**claims, "jti": "a3", "exp": now - 120, "iat": now - 300}),
                          ("assertion iss is not sub", {**claims, "jti": "a4", "iss": "someone-else"})):
            signed = jwt.encode(bad, pem(rsa_key), algorithm="RS256", headers={"kid": "trial-rsa"})
            r = requests.post(token_url, data={**form, "client_assertion": signed})
            check(case, (401, "invalid_client"), (r.status_code, r.json().get("error")))
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode({**claims, "jti": "a5"}, pem(other_key), algorithm="RS256", headers={"kid": "trial-rsa"})
        r = requests.post(token_url, data={**form, "client_assertion": forged})
        check("assertion signed by another key", (401, "invalid_client"), (r.status_code, r.json().get("error")))
        r = requests.post(token_url, data={"grant_type": "password", "client_id": secret_client["client_id"],
                                           "client_secret": secret_client["client_secret"]})
        check("grant_type password", (400, "unsupported_grant_type"), (r.status_code, r.json().get("error")))

        # Access tokens a resource server must refuse.
        header, payload, signature = last_token.split(".")
        claims_in = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        unsigned = jwt.encode(claims_in, None, algorithm="none")
        check("access token alg none", 401, api_status(unsigned))
        jwks = requests.get(f"{base}/.well-known/jwks.json").json()
        published = jwks["keys"][0]
        public_pem = ec.EllipticCurvePublicNumbers(
            int.from_bytes(base64.urlsafe_b64decode(published["x"] + "=="), "big"),
            int.from_bytes(base64.urlsafe_b64decode(published["y"] + "=="), "big"),
            ec.SECP256R1()).public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        for form_name, secret in (("PEM", public_pem), ("JWK JSON", json.dumps(published).encode())):
            hs = hs256_by_hand(claims_in, secret, published["kid"])
            check(f"access token HS256 keyed with the public key ({form_name})", 401, api_status(hs))
        tampered = json.loads(json.dumps(claims_in))
        tampered["role"] = "admin"
        forged_payload = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=").decode()
        check("access token payload changed (role admin)", 401, api_status(f"{header}.{forged_payload}.{signature}"))
        check("access token signature dropped", 401, api_status(f"{header}.{payload}."))
        own = ec.generate_private_key(ec.SECP256R1())
        foreign = jwt.encode({**claims_in, "exp": now + 60}, pem(own), algorithm="ES256",
                             headers={"kid": jwks["keys"][0]["kid"]})
        check("access token signed by a stranger's key, our kid", 401, api_status(foreign))

        # Revocation: the system's tokens stop, and it gets no more.
        r = requests.delete(f"{base}/v1/api-clients/{secret_client['id']}", headers=as_admin)
        check("revoke the secret system", 204, r.status_code)
        session = OAuth2Session(secret_client["client_id"], secret_client["client_secret"],
                                token_endpoint_auth_method="client_secret_basic")
        try:
            session.fetch_token(token_url, grant_type="client_credentials")
            check("revoked system asks for a token", "invalid_client", "issued")
        except Exception as e:
            check("revoked system asks for a token", "invalid_client", getattr(e, "error", str(e)))
        # People signing in through the OpenID Connect provider: tokens signed with joserfc
        # (Authlib's JOSE library), as a provider would sign them.
        from joserfc import jwt as jose_jwt

        user = requests.post(f"{base}/v1/users", headers=as_admin,
                             json={"email": "trial@example.org", "display_name": "Trial Coordinator",
                                   "role": "coordinator"}).json()
        link = requests.post(f"{base}/v1/users/{user['id']}/identities", headers=as_admin,
                             json={"issuer": issuer, "subject": "trial-subject"})
        check("link the provider's subject to a coordinator", 201, link.status_code)
        signing = RSAKey.import_key(pem(idp_key))
        now = int(time.time())
        person = {"iss": issuer, "aud": "linkwell-trial", "sub": "trial-subject", "iat": now, "exp": now + 600}

        def provider_token(claims, alg="RS256", key=signing, kid="idp-1"):
            return jose_jwt.encode({"alg": alg, "kid": kid}, claims, key)

        check("OIDC RS256 token of a linked user", 200, api_status(provider_token(person)))
        me = requests.get(f"{base}/v1/users/{user['id']}",
                          headers={"Authorization": f"Bearer {provider_token(person)}"})
        check("OIDC token reads the user's own record", 200, me.status_code)
        claimed_admin = provider_token({**person, "role": "admin", "roles": ["admin"]})
        r = requests.get(f"{base}/v1/audit-events", headers={"Authorization": f"Bearer {claimed_admin}"})
        check("OIDC token claiming admin acts as the coordinator", 403, r.status_code)
        unsigned = jwt.encode(person, None, algorithm="none", headers={"kid": "idp-1"})
        check("OIDC alg none", 401, api_status(unsigned))
        idp_public = idp_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        check("OIDC HS256 keyed with the provider's public key", 401,
              api_status(hs256_by_hand(person, idp_public, "idp-1")))
        for case, claims in (("OIDC wrong aud", {**person, "aud": "someone-else"}),
                             ("OIDC wrong iss", {**person, "iss": issuer + "/other"}),
                             ("OIDC expired", {**person, "exp": now - 120, "iat": now - 900}),
                             ("OIDC nbf in the future", {**person, "nbf": now + 600}),
                             ("OIDC subject linked to nobody", {**person, "sub": "stranger"})):
            check(case, 401, api_status(provider_token(claims)))
        stranger = RSAKey.import_key(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        check("OIDC signed by another key under the provider's kid", 401,
              api_status(provider_token(person, key=stranger)))
        check("OIDC unknown kid", 401, api_status(provider_token(person, kid="idp-unknown")))

        # What the audit trail recorded of all this, by action and outcome.
        tally, cursor = {}, None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = requests.get(f"{base}/v1/audit-events", params=params, headers=as_admin).json()
            for event in page["items"]:
                key = f"{event['action']} {event['outcome']}"
                tally[key] = tally.get(key, 0) + 1
            cursor = page.get("next_cursor")
            if not cursor:
                break
        print("audit rows by action and outcome:")
        for key in sorted(tally):
            print(f"  {tally[key]:>4}  {key}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        idp.shutdown()

    width = max(len(c) for c, *_ in RESULTS)
    for case, expected, got, ok in RESULTS:
        print(f"{'ok  ' if ok else 'FAIL'} {case:<{width}}  expected {expected}, got {got}")
    failed = sum(1 for *_, ok in RESULTS if not ok)
    print(f"{len(RESULTS) - failed}/{len(RESULTS)} as expected")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/release/linkwell"))
