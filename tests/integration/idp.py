"""A test identity provider: signing keys as JWKs and the JWTs they sign (RS256 or ES256), for
OAUTHBEARER tests (integration/oauthbearer_test.py, e2e/tls_test.py)."""
import base64
import json
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def uint(n, size=None):
    return n.to_bytes(size or (n.bit_length() + 7) // 8, "big")


class Key:
    """A signing key of the test's identity provider."""

    def __init__(self, kid, kind):
        self.kid, self.kind = kid, kind
        if kind == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = "RS256"
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"

    def jwk(self):
        pub = self.private.public_key().public_numbers()
        if self.kind == "RSA":
            return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b64url(uint(pub.n)),
                    "e": b64url(uint(pub.e))}
        return {"kty": "EC", "kid": self.kid, "crv": "P-256", "x": b64url(uint(pub.x, 32)),
                "y": b64url(uint(pub.y, 32))}

    def token(self, sub, lifetime=600, issued=-5, **claims):
        now = int(time.time())
        header = {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        payload = {"sub": sub, "iat": now + issued, "exp": now + lifetime, "aud": "kafka", **claims}
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())).encode()
        if self.kind == "RSA":
            sig = self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            sig = uint(r, 32) + uint(s, 32)
        return signing_input.decode() + "." + b64url(sig)


def jwks(keys):
    """The JWKS document of `keys`, as a broker reads it."""
    return json.dumps({"keys": [k.jwk() for k in keys]})
