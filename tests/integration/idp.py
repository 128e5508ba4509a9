"""A test identity provider: signing keys as JWKs and the JWTs they sign (RS256 or ES256), and
its JWKS endpoint over HTTPS with a test CA (JwksServer, make_tls), for OAUTHBEARER tests
(integration/oauthbearer_test.py, e2e/tls_test.py)."""
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


def make_tls(directory, name="idp"):
    """A test CA and a certificate it signs for 127.0.0.1 and localhost, made with the openssl
    command: (CA file, certificate file, key file) under `directory`, named after `name` (a
    second call with another name makes a CA that trusts nothing of the first)."""
    import subprocess
    from pathlib import Path
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca, ca_key = d / f"{name}-ca.pem", d / f"{name}-ca.key"
    cert, key, csr, ext = d / f"{name}.pem", d / f"{name}.key", d / f"{name}.csr", d / f"{name}.ext"

    def run(*args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", 2,
        "-subj", f"/CN=Tributary test {name} CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", 2,
        "-extfile", ext)
    return ca, cert, key


class JwksServer:
    """The identity provider's JWKS endpoint, https://127.0.0.1:<port>/jwks (http:// without a
    certificate): it serves the JWKS of `keys` (assign to rotate them) until stop()."""

    def __init__(self, keys, cert=None, key=None):
        import http.server
        import ssl
        import threading
        self.keys = list(keys)
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests += 1
                body = jwks(server.keys).encode() if self.path == "/jwks" else b"{}"
                self.send_response(200 if self.path == "/jwks" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}/jwks"

    def stop(self):
        """Down: the port refuses connections from now on."""
        self.httpd.shutdown()
        self.httpd.server_close()
