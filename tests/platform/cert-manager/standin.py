#!/usr/bin/env python3
"""A stand-in for cert-manager's controller, for the e2e tests: it issues the Certificates
(cert-manager.io/v1) whose issuer is a CA Issuer or ClusterIssuer, as cert-manager's CA issuer
does, and nothing else. README.md says why it exists and what it does.

  standin.py --kubeconfig K [--cluster-resource-namespace NS] [--interval S]

K is a kubeconfig as tests/e2e/kube.py writes them (JSON, one cluster and one user with a
client certificate). Runs until SIGTERM.
"""
import argparse
import base64
import datetime
import json
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

GROUP = "cert-manager.io/v1"
DEFAULT_DURATION_S = 90 * 24 * 3600  # cert-manager's default duration (2160h)
MIN_DURATION_S = 3600                 # cert-manager refuses shorter durations


def log(msg):
    print(f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds')} {msg}", flush=True)


class Api:
    def __init__(self, kubeconfig):
        cfg = json.loads(Path(kubeconfig).read_text())
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        self.server = cluster["server"].rstrip("/")
        self.ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.ctx.load_cert_chain(user["client-certificate"], user["client-key"])

    def call(self, method, path, body=None, content_type="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise RuntimeError(f"{method} {path}: {e.code} {e.read()[:300]!r}") from e

    def items(self, path):
        got = self.call("GET", path)
        return got["items"] if got else []


def secret_value(secret, key):
    v = (secret or {}).get("data", {}).get(key)
    return base64.b64decode(v).decode() if v else None


PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", re.S)


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, input=input, timeout=30).stdout


def cert_fields(pem):
    """(subject, issuer, notAfter as epoch seconds, SANs as a sorted list) of the first
    certificate in pem."""
    with tempfile.NamedTemporaryFile("w", suffix=".crt") as f:
        f.write(pem)
        f.flush()
        out = openssl("x509", "-in", f.name, "-noout", "-subject", "-issuer", "-enddate", "-nameopt", "RFC2253",
                      "-ext", "subjectAltName").decode()
    subject = re.search(r"^subject=(.*)$", out, re.M).group(1).strip()
    issuer = re.search(r"^issuer=(.*)$", out, re.M).group(1).strip()
    end = re.search(r"^notAfter=(.*)$", out, re.M).group(1).strip()
    not_after = datetime.datetime.strptime(end, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc)
    sans = []
    for part in re.findall(r"(DNS:[^,\s]+|IP Address:[^,\s]+)", out):
        sans.append(part.replace("IP Address:", "IP:"))
    return subject, issuer, not_after.timestamp(), sorted(sans)


def parse_duration(text, default):
    """Go's time.Duration strings as cert-manager takes them: 2160h, 1h30m, 90s."""
    if not text:
        return default
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text):
        total += float(value) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total or default


def rfc3339(ts):
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class StandIn:
    def __init__(self, api, cluster_resource_ns):
        self.api = api
        self.cluster_resource_ns = cluster_resource_ns

    def issuer_ca(self, ns, ref):
        """(CA certificate chain PEM, key PEM) of the CA issuer `ref` names, or a reason."""
        kind = ref.get("kind") or "Issuer"
        if (ref.get("group") or "cert-manager.io") != "cert-manager.io":
            return None, f"issuer group {ref.get('group')} is not cert-manager.io's (only CA issuers are stood in for)"
        if kind == "ClusterIssuer":
            issuer = self.api.call("GET", f"/apis/{GROUP}/clusterissuers/{ref.get('name')}")
            secret_ns = self.cluster_resource_ns
        elif kind == "Issuer":
            issuer = self.api.call("GET", f"/apis/{GROUP}/namespaces/{ns}/issuers/{ref.get('name')}")
            secret_ns = ns
        else:
            return None, f"issuer kind {kind} is neither Issuer nor ClusterIssuer"
        if issuer is None:
            return None, f"{kind} {ref.get('name')} not found"
        secret_name = issuer.get("spec", {}).get("ca", {}).get("secretName")
        if not secret_name:
            return None, f"{kind} {ref.get('name')} is not a CA issuer (spec.ca.secretName)"
        secret = self.api.call("GET", f"/api/v1/namespaces/{secret_ns}/secrets/{secret_name}")
        crt, key = secret_value(secret, "tls.crt"), secret_value(secret, "tls.key")
        if not crt or not key:
            return None, f"{kind} {ref.get('name')}: Secret {secret_ns}/{secret_name} has no tls.crt and tls.key"
        return (crt, key), ""

    def sync_issuers(self):
        """Issuers and ClusterIssuers get status Ready as cert-manager sets it."""
        for path, ns_of in ((f"/apis/{GROUP}/issuers", lambda o: o["metadata"]["namespace"]),
                            (f"/apis/{GROUP}/clusterissuers", lambda o: None)):
            for o in self.api.items(path):
                ref = {"name": o["metadata"]["name"], "kind": o["kind"]}
                _, why = self.issuer_ca(ns_of(o) or self.cluster_resource_ns, ref)
                ready = "False" if why else "True"
                conds = o.get("status", {}).get("conditions", [])
                if any(c.get("type") == "Ready" and c.get("status") == ready for c in conds):
                    continue
                base = (f"/apis/{GROUP}/namespaces/{o['metadata']['namespace']}/issuers/{ref['name']}"
                        if ns_of(o) else f"/apis/{GROUP}/clusterissuers/{ref['name']}")
                status = {"conditions": [{"type": "Ready", "status": ready,
                                          "reason": "ErrGetKeyPair" if why else "KeyPairVerified",
                                          "message": why or "Signing CA verified",
                                          "lastTransitionTime": rfc3339(time.time())}]}
                self.api.call("PATCH", base + "/status", {"status": status}, "application/merge-patch+json")

    def sync_certificate(self, c):
        meta, spec = c["metadata"], c.get("spec", {})
        ns, name = meta["namespace"], meta["name"]
        status = c.get("status", {})
        conds = {x.get("type"): x for x in status.get("conditions", [])}
        secret_name = spec.get("secretName")
        secret = self.api.call("GET", f"/api/v1/namespaces/{ns}/secrets/{secret_name}") if secret_name else None
        want_sans = sorted([f"DNS:{d}" for d in spec.get("dnsNames", [])] +
                           [f"IP:{i}" for i in spec.get("ipAddresses", [])])
        duration = max(parse_duration(spec.get("duration"), DEFAULT_DURATION_S), MIN_DURATION_S)
        renew_before = parse_duration(spec.get("renewBefore"), duration / 3)
        why = ""
        held = secret_value(secret, "tls.crt")
        if not secret_name:
            return self.set_status(c, status, False, "Invalid", "spec.secretName is not set")
        if not held:
            why = f"Secret {secret_name} holds no certificate"
        else:
            subject, issuer, not_after, sans = cert_fields(held)
            if sans != want_sans:
                why = "the certificate's names are not the spec's"
            elif time.time() >= not_after - renew_before:
                why = "renewal time reached"
            elif conds.get("Issuing", {}).get("status") == "True":
                why = conds["Issuing"].get("message") or "issuance triggered"
        if not why:
            if conds.get("Ready", {}).get("status") != "True":
                return self.set_status(c, status, True, "Ready", "Certificate is up to date and has not expired")
            return
        ca, problem = self.issuer_ca(ns, spec.get("issuerRef", {}))
        if ca is None:
            return self.set_status(c, status, False, "IssuerNotReady", problem)
        crt, key = self.issue(spec, ca, duration)
        chain = PEM_RE.findall(ca[0])
        root = chain[-1]
        intermediates = [p for p in chain if p != root]
        secret_body = {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": secret_name, "namespace": ns,
                         "labels": spec.get("secretTemplate", {}).get("labels", {}),
                         "annotations": {**spec.get("secretTemplate", {}).get("annotations", {}),
                                         "cert-manager.io/certificate-name": name,
                                         "cert-manager.io/issuer-name": spec.get("issuerRef", {}).get("name", ""),
                                         "cert-manager.io/issuer-kind": spec.get("issuerRef", {}).get("kind", "Issuer")}},
            "data": {"tls.crt": base64.b64encode((crt + "".join(intermediates)).encode()).decode(),
                     "tls.key": base64.b64encode(key.encode()).decode(),
                     "ca.crt": base64.b64encode(root.encode()).decode()},
        }
        if secret is None:
            self.api.call("POST", f"/api/v1/namespaces/{ns}/secrets", secret_body)
        else:
            secret_body["metadata"]["resourceVersion"] = secret["metadata"]["resourceVersion"]
            self.api.call("PUT", f"/api/v1/namespaces/{ns}/secrets/{secret_name}", secret_body)
        _, _, not_after, _ = cert_fields(crt)
        status = dict(status)
        status["notBefore"] = rfc3339(time.time())
        status["notAfter"] = rfc3339(not_after)
        status["renewalTime"] = rfc3339(not_after - renew_before)
        status["revision"] = int(status.get("revision", 0)) + 1
        log(f"issued {ns}/{name} into Secret {secret_name} ({why}), revision {status['revision']}")
        self.set_status(c, status, True, "Ready", "Certificate is up to date and has not expired", issued=True)

    def issue(self, spec, ca, duration):
        """A new key and a certificate for it, signed by the CA (crt PEM, key PEM)."""
        ca_crt, ca_key = ca
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            (d / "ca.crt").write_text(PEM_RE.findall(ca_crt)[0])
            (d / "ca.key").write_text(ca_key)
            (d / "ca.key").chmod(0o600)
            algorithm = (spec.get("privateKey", {}).get("algorithm") or "RSA").upper()
            if algorithm == "ECDSA":
                size = spec.get("privateKey", {}).get("size") or 256
                curve = {256: "P-256", 384: "P-384", 521: "P-521"}.get(int(size), "P-256")
                newkey = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{curve}"]
            else:
                newkey = ["-newkey", f"rsa:{spec.get('privateKey', {}).get('size') or 2048}"]
            subject = "".join(f"/O={o}" for o in spec.get("subject", {}).get("organizations", []))
            subject += f"/CN={spec['commonName']}" if spec.get("commonName") else ""
            sans = [f"DNS:{x}" for x in spec.get("dnsNames", [])] + [f"IP:{x}" for x in spec.get("ipAddresses", [])]
            usages = spec.get("usages") or ["digital signature", "key encipherment"]
            eku = [{"server auth": "serverAuth", "client auth": "clientAuth"}[u] for u in usages
                   if u in ("server auth", "client auth")]
            lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
            if eku:
                lines.append("extendedKeyUsage=" + ",".join(eku))
            if sans:
                lines.append("subjectAltName=" + ",".join(sans))
            (d / "ext").write_text("\n".join(lines) + "\n")
            csr = openssl("req", "-new", *newkey, "-nodes", "-keyout", str(d / "tls.key"),
                          "-subj", subject or "/")
            days = max(1, round(duration / 86400))
            openssl("x509", "-req", "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"), "-set_serial",
                    str(int.from_bytes(__import__("os").urandom(16), "big") >> 1), "-days", str(days),
                    "-extfile", str(d / "ext"), "-out", str(d / "tls.crt"), input=csr)
            return (d / "tls.crt").read_text(), (d / "tls.key").read_text()

    def set_status(self, c, status, ready, reason, message, issued=False):
        status = dict(status)
        conds = [x for x in status.get("conditions", []) if x.get("type") not in ("Ready", "Issuing")]
        conds.append({"type": "Ready", "status": "True" if ready else "False", "reason": reason,
                      "message": message, "observedGeneration": c["metadata"].get("generation", 1),
                      "lastTransitionTime": rfc3339(time.time())})
        status["conditions"] = conds
        if status == c.get("status"):
            return
        meta = c["metadata"]
        self.api.call("PUT", f"/apis/{GROUP}/namespaces/{meta['namespace']}/certificates/{meta['name']}/status",
                      {**c, "status": status})

    def pass_once(self):
        self.sync_issuers()
        for c in self.api.items(f"/apis/{GROUP}/certificates"):
            try:
                self.sync_certificate(c)
            except Exception as e:  # one bad object must not stop the others
                log(f"certificate {c['metadata']['namespace']}/{c['metadata']['name']}: {e}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--cluster-resource-namespace", default="cert-manager")
    p.add_argument("--interval", type=float, default=0.5)
    args = p.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    s = StandIn(Api(args.kubeconfig), args.cluster_resource_namespace)
    log("cert-manager stand-in running")
    while not stop:
        try:
            s.pass_once()
        except Exception as e:
            log(f"pass failed: {e}")
        time.sleep(args.interval)
    log("stopped")


if __name__ == "__main__":
    sys.exit(main())
