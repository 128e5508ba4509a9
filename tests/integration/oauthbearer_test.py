"""SASL/OAUTHBEARER with JWTs checked against a JWKS file (KIP-768's validator): one broker
(and a coordinator, for ACLs) for the module, with a SASL_PLAINTEXT listener. The test is its
own identity provider: it makes an RSA and an EC key, writes their JWKS and signs tokens with
python `cryptography`; confluent-kafka's `oauth_cb` hands them to librdkafka.

Checked: producing and consuming with RSA and EC tokens (librdkafka, kafkajs's
oauthBearerProvider, and the Java client's login handler reading a token file), an expired token and one signed by an unknown key refused with the
authentication error and its reason, ACLs applying to User:<sub>, keys rotated in the file
while the broker runs, and the token's exp bounding the session (KIP-368) while librdkafka
re-authenticates with fresh tokens.

And with the JWKS fetched over HTTPS from the test's identity provider (idp.JwksServer, its
certificate from a test CA made with openssl): logins with keys fetched at start-up, a key
rotated at the provider picked up at the next login (the unknown kid makes the broker fetch
again), the provider down keeping the keys in use, and a broker whose truststore does not
trust the provider refusing OAUTHBEARER logins with the reason it logged.
"""
import re
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import kafka_tool  # noqa: E402
from harness import free_port, kafkajs, start_sasl_broker, wait_until  # noqa: E402
from idp import JwksServer, Key, jwks, make_tls  # noqa: E402

STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
TIMEOUT = 30


def write_jwks(path, keys):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(jwks(keys))
    tmp.replace(path)  # whole at once: the broker never reads half a file


class Cluster:
    def __init__(self, broker, sasl_port, jwks_path, keys, http_port):
        self.broker, self.sasl_port, self.jwks_path, self.keys = broker, sasl_port, jwks_path, keys
        self.http_port = http_port

    def counter(self, name):
        """tributary_<name>_total of the SASL listener, from /metrics (0 before the first)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10) as r:
            m = re.search(rf'^tributary_{name}_total{{listener="SASL_PLAINTEXT"}} (\S+)$', r.read().decode(), re.M)
        return int(float(m.group(1))) if m else 0

    def conf(self, token, sub, **extra):
        """Client settings whose oauth_cb hands librdkafka `token` (its lifetime as librdkafka
        sees it is always ahead: librdkafka refuses an expired one before sending it)."""
        def oauth_cb(_config):
            return token, time.time() + 300, sub, {}
        return {"bootstrap.servers": f"127.0.0.1:{self.sasl_port}", "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "OAUTHBEARER", "oauth_cb": oauth_cb, **extra}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("oauthbearer")
    keys = {"rsa": Key("rsa-1", "RSA"), "ec": Key("ec-1", "EC")}
    jwks_path = root / "jwks.json"
    write_jwks(jwks_path, keys.values())
    http_port = free_port()
    coord, b, sasl_port = start_sasl_broker(root, {
        "tributary.http.listener": f"127.0.0.1:{http_port}",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "sasl.oauthbearer.jwks.endpoint.url": f"file://{jwks_path}",
        "sasl.oauthbearer.expected.audience": "kafka",
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class":
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config":
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;",
        "authorizer.class.name": STANDARD_AUTHORIZER,
        # the PLAINTEXT listener (the harness, the test's admin) is the super user; resources
        # without ACLs are open, so the one ACL below decides one topic
        "super.users": "User:ANONYMOUS",
        "allow.everyone.if.no.acl.found": "true",
        "group.initial.rebalance.delay.ms": "0",
    })
    try:
        yield Cluster(b, sasl_port, jwks_path, keys, http_port)
    finally:
        rc = b.stop()
        coord.stop()
        print(f"\n===== tributary log {b.log_path} (exit {rc}) =====\n{b.log_tail(8000)}")


def produce(conf, topic, values):
    """Produces `values`; the delivery errors (empty: all delivered) and errors reported."""
    from confluent_kafka import KafkaException, Producer
    errors, failed = [], []
    p = Producer({"message.timeout.ms": 15000, **conf, "error_cb": errors.append})
    for v in values:
        try:
            p.produce(topic, v, on_delivery=lambda err, msg: failed.append(err) if err else None)
        except KafkaException as e:  # refused at once when the client already knows why
            failed.append(e.args[0])
    p.flush(TIMEOUT)
    return failed, errors


def auth_error(conf):
    """The first error a producer reports while it can't authenticate."""
    from confluent_kafka import Producer
    errors = []
    p = Producer({**conf, "error_cb": errors.append})
    p.produce("never", b"x")
    deadline = time.monotonic() + TIMEOUT
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    p.purge()
    assert errors, "no error reported"
    return errors[0]


def test_rsa_and_ec_tokens_produce_and_consume(cluster):
    from confluent_kafka import Consumer
    values = [b"v%d" % i for i in range(50)]
    failed, errors = produce(cluster.conf(cluster.keys["rsa"].token("alice"), "alice"), "oauth-open", values)
    assert not failed and not errors, (failed, errors)
    c = Consumer(cluster.conf(cluster.keys["ec"].token("bob"), "bob", **{"group.id": "oauth-g",
                                                                        "auto.offset.reset": "earliest"}))
    c.subscribe(["oauth-open"])
    got = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < len(values) and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert sorted(got) == sorted(values)
    assert cluster.broker.wait_for_log("authenticated as User:alice with SASL/OAUTHBEARER")
    assert cluster.broker.wait_for_log("authenticated as User:bob with SASL/OAUTHBEARER")


def test_kafkajs_oauth_bearer_provider(cluster):
    bootstrap = f"127.0.0.1:{cluster.sasl_port}"
    security = {"sasl": {"mechanism": "oauthbearer", "token": cluster.keys["ec"].token("dave")}}
    assert kafkajs(bootstrap, "create", "oauth-js", 2, security=security) == {"created": True}
    out = kafkajs(bootstrap, "produce", "oauth-js", 20, 2, "none", security=security)
    assert all(p["errorCode"] == 0 for send in out["results"] for p in send["partitions"]), out
    assert cluster.broker.wait_for_log("authenticated as User:dave with SASL/OAUTHBEARER")
    # kafkajs reads the error challenge as success, so an expired token shows up as the broker
    # closing the connection at the next request (as with Apache Kafka); it must not get in.
    expired = {"sasl": {"mechanism": "oauthbearer",
                        "token": cluster.keys["ec"].token("dave", lifetime=-120, issued=-600)}}
    with pytest.raises(AssertionError, match="exited 1"):
        kafkajs(bootstrap, "list", security=expired, timeout=60)


def test_java_client_with_a_token_file(cluster, tmp_path):
    # KIP-768's client side: a file: token endpoint holds the JWT (Kafka 4 allows only the URLs
    # the org.apache.kafka.sasl.oauthbearer.allowed.urls system property lists).
    token = tmp_path / "token.jwt"
    token.write_text(cluster.keys["ec"].token("erin"))
    props = tmp_path / "client.properties"
    props.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\n"
                     f"sasl.oauthbearer.token.endpoint.url=file://{token}\n"
                     "sasl.login.callback.handler.class="
                     "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler\n"
                     "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule "
                     "required ;\n")
    env = {"KAFKA_OPTS": f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=file://{token}"}
    bootstrap = f"127.0.0.1:{cluster.sasl_port}"
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--command-config", props, "--create",
               "--topic", "oauth-java", "--partitions", 1, env=env)
    out = kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--command-config", props, "--list",
                     env=env).stdout
    assert "oauth-java" in out.split()
    assert cluster.broker.wait_for_log("authenticated as User:erin with SASL/OAUTHBEARER")


def test_expired_token_is_refused_with_the_reason(cluster):
    from confluent_kafka import KafkaError
    token = cluster.keys["rsa"].token("alice", lifetime=-120, issued=-600)
    err = auth_error(cluster.conf(token, "alice"))
    assert err.code() == KafkaError._AUTHENTICATION, err
    assert "token has expired" in err.str(), err
    assert cluster.broker.wait_for_log("invalid OAUTHBEARER token: the token has expired")
    with open(cluster.broker.log_path) as f:
        assert token not in f.read()  # never logged


def test_token_of_an_unknown_key_is_refused(cluster):
    from confluent_kafka import KafkaError
    stranger = Key("stranger", "EC")
    err = auth_error(cluster.conf(stranger.token("mallory"), "mallory"))
    assert err.code() == KafkaError._AUTHENTICATION, err
    assert "no key with the token's kid 'stranger'" in err.str(), err
    # A forged token under a known kid too.
    forger = Key("rsa-1", "RSA")
    err = auth_error(cluster.conf(forger.token("admin"), "admin"))
    assert err.code() == KafkaError._AUTHENTICATION and "signature is invalid" in err.str(), err


def test_acls_apply_to_the_tokens_subject(cluster):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                       ResourcePatternType, ResourceType)
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{cluster.broker.port}"})
    for f in admin.create_topics([NewTopic("oauth-guarded", 1, 1)], request_timeout=TIMEOUT).values():
        f.result()
    acl = AclBinding(ResourceType.TOPIC, "oauth-guarded", ResourcePatternType.LITERAL, "User:alice", "*",
                     AclOperation.WRITE, AclPermissionType.ALLOW)
    for f in admin.create_acls([acl], request_timeout=TIMEOUT).values():
        f.result()
    failed, _ = produce(cluster.conf(cluster.keys["ec"].token("bob"), "bob"), "oauth-guarded", [b"no"])
    assert [e.code() for e in failed] == [KafkaError.TOPIC_AUTHORIZATION_FAILED], failed
    failed, errors = produce(cluster.conf(cluster.keys["ec"].token("alice"), "alice"), "oauth-guarded", [b"yes"])
    assert not failed, (failed, errors)


def test_rotated_keys_are_picked_up(cluster):
    from confluent_kafka import KafkaError
    new = Key("rsa-2", "RSA")
    write_jwks(cluster.jwks_path, [new, cluster.keys["ec"]])  # rsa-1 retired, rsa-2 added
    # The new kid makes the broker read the file again (at most once a second: the unknown
    # kid of the test before may have just used that second, so wait for it).
    deadline = time.monotonic() + TIMEOUT
    while True:
        failed, errors = produce(cluster.conf(new.token("carol"), "carol", **{"message.timeout.ms": 5000}),
                                 "oauth-open", [b"rotated"])
        if not failed and not errors:
            break
        assert time.monotonic() < deadline, (failed, errors)
    assert cluster.broker.wait_for_log("read 2 keys from the JWKS file")
    assert cluster.broker.wait_for_log("authenticated as User:carol with SASL/OAUTHBEARER")
    err = auth_error(cluster.conf(cluster.keys["rsa"].token("alice"), "alice"))
    assert err.code() == KafkaError._AUTHENTICATION and "kid 'rsa-1'" in err.str(), err


def test_the_tokens_exp_bounds_the_session_and_librdkafka_reauthenticates(cluster):
    # KIP-368: without connections.max.reauth.ms the session still ends at the token's exp; the
    # broker tells librdkafka the lifetime, and librdkafka re-authenticates before the end, with
    # the newest token oauth_cb gave it, so the connection is never closed as expired. Tokens
    # live 5 s and librdkafka is told 2 s, so it always holds a fresh one (a re-authentication
    # with a token about to expire would get a lifetime too short to re-authenticate again:
    # Kafka allows one a second).
    from confluent_kafka import Producer

    def oauth_cb(_config):
        return cluster.keys["ec"].token("erin", lifetime=5), time.time() + 2, "erin", {}  # ec: rsa-1 is rotated out above
    log_at = len(cluster.broker.log_text())
    reauthenticated = cluster.counter("successful_reauthentication")
    errors, failed = [], []
    p = Producer({"bootstrap.servers": f"127.0.0.1:{cluster.sasl_port}", "security.protocol": "SASL_PLAINTEXT",
                  "sasl.mechanism": "OAUTHBEARER", "oauth_cb": oauth_cb, "linger.ms": 5,
                  "error_cb": errors.append})

    def produce_one():
        p.produce("oauth-lifetime", b"x", on_delivery=lambda err, msg: failed.append(err) if err else None)
        p.poll(0.1)
        # the bootstrap and the broker connection, each re-authenticated
        return cluster.counter("successful_reauthentication") >= reauthenticated + 2
    wait_until(produce_one, "re-authentications", timeout=30)
    assert p.flush(TIMEOUT) == 0
    assert not failed and not errors, (failed, errors)
    log = cluster.broker.log_text()[log_at:]
    m = re.search(r"authenticated as User:erin with SASL/OAUTHBEARER on listener \S+; session lifetime (\d+) ms", log)
    assert m, log[-3000:]
    assert 3000 < int(m.group(1)) <= 5000, m.group(0)  # exp is in whole seconds
    assert "expired SASL session of User:erin" not in log


# --- the JWKS over HTTPS ------------------------------------------------------------------

def https_overrides(url, truststore, http_port=None):
    jaas = ("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
            f'ssl.truststore.type="PEM" ssl.truststore.location="{truststore}" ;')
    return {
        **({"tributary.http.listener": f"127.0.0.1:{http_port}"} if http_port else {}),
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "sasl.oauthbearer.jwks.endpoint.url": url,
        # refreshes only when a token asks (an unknown kid); a failed fetch gives up after 1 s
        "sasl.oauthbearer.jwks.endpoint.refresh.ms": "3600000",
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms": "50",
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms": "1000",
        "sasl.oauthbearer.expected.audience": "kafka",
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class":
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": jaas,
    }


@pytest.fixture(scope="module")
def https_idp(tmp_path_factory):
    root = tmp_path_factory.mktemp("idp")
    ca, cert, key = make_tls(root / "tls")
    idp = JwksServer([Key("https-1", "RSA")], cert, key)
    yield idp, ca, root
    idp.stop()


@pytest.fixture(scope="module")
def https_cluster(https_idp):
    idp, ca, root = https_idp
    coord, b, sasl_port = start_sasl_broker(root / "cluster", https_overrides(idp.url, ca))
    try:
        yield Cluster(b, sasl_port, None, {"rsa": idp.keys[0]}, None)
    finally:
        rc = b.stop()
        coord.stop()
        print(f"\n===== tributary log {b.log_path} (exit {rc}) =====\n{b.log_tail(8000)}")


def produce_until_accepted(cluster, token, sub):
    """Produces with `token` until it is accepted (a rotated key is found by the fetch the
    first refusal started); the errors of the last refused attempt otherwise."""
    def accepted():
        failed, errors = produce(cluster.conf(token, sub, **{"message.timeout.ms": 5000}), "oauth-https", [b"x"])
        return not failed and not errors
    wait_until(accepted, f"a login of {sub}", timeout=TIMEOUT)


def test_https_jwks_login_rotation_and_provider_down(https_idp, https_cluster):
    from confluent_kafka import KafkaError
    idp, _, _ = https_idp
    b = https_cluster.broker
    assert b.wait_for_log(f"read 1 keys from the JWKS at {idp.url} (start-up)")
    first = idp.keys[0]
    failed, errors = produce(https_cluster.conf(first.token("alice"), "alice"), "oauth-https", [b"a"])
    assert not failed and not errors, (failed, errors)
    assert b.wait_for_log("authenticated as User:alice with SASL/OAUTHBEARER")

    # The provider rotates its key: the new kid is unknown, the broker fetches again and the
    # next login finds it; the retired key is refused from then on.
    rotated = Key("https-2", "EC")
    idp.keys = [rotated]
    produce_until_accepted(https_cluster, rotated.token("bob"), "bob")
    assert b.wait_for_log(f"read 1 keys from the JWKS at {idp.url} (a token's kid is not among the keys)")
    err = auth_error(https_cluster.conf(first.token("alice"), "alice"))
    assert err.code() == KafkaError._AUTHENTICATION and "kid 'https-1'" in err.str(), err

    # The provider goes down; a fetch (asked for by a stranger's kid) fails, logs why and keeps
    # the keys: logins with them still work.
    idp.stop()
    log_at = len(b.log_text())

    def stranger_refused_and_fetch_failed():
        # (the broker asks again at most once a second, so the first stranger may not be the one)
        err = auth_error(https_cluster.conf(Key("stranger", "EC").token("mallory"), "mallory"))
        assert err.code() == KafkaError._AUTHENTICATION, err
        log = b.log_text()[log_at:]
        return f"can't fetch the JWKS at {idp.url}" in log and "keeping the 1 keys in use" in log
    wait_until(stranger_refused_and_fetch_failed, "a failed fetch logged", timeout=TIMEOUT)
    assert "Connection refused" in b.log_text()[log_at:]
    failed, errors = produce(https_cluster.conf(rotated.token("carol"), "carol"), "oauth-https", [b"c"])
    assert not failed and not errors, (failed, errors)
    assert b.wait_for_log("authenticated as User:carol with SASL/OAUTHBEARER", since=log_at)


def test_https_jwks_from_an_untrusted_provider_refuses_logins_with_the_reason(tmp_path):
    from confluent_kafka import KafkaError
    ca, cert, key = make_tls(tmp_path / "tls")
    other_ca, _, _ = make_tls(tmp_path / "tls", name="other")
    signing = Key("https-u", "RSA")
    idp = JwksServer([signing], cert, key)
    coord, b, sasl_port = start_sasl_broker(tmp_path / "cluster", https_overrides(idp.url, other_ca))
    try:
        # The broker starts (its other listeners do not need the provider) and says why it has
        # no keys.
        assert b.wait_for_log(f"can't fetch the JWKS at {idp.url} (start-up", timeout=TIMEOUT)
        log = b.log_text()
        assert "TLS handshake" in log and "certificate verify failed" in log, log[-3000:]
        assert "OAUTHBEARER logins are refused until it can be fetched" in log
        cluster = Cluster(b, sasl_port, None, {}, None)
        err = auth_error(cluster.conf(signing.token("alice"), "alice"))
        assert err.code() == KafkaError._AUTHENTICATION, err
        assert "no OAUTHBEARER verification keys yet" in err.str() and "certificate verify failed" in err.str(), err
    finally:
        rc = b.stop()
        coord.stop()
        idp.stop()
        print(f"\n===== tributary log {b.log_path} (exit {rc}) =====\n{b.log_tail(8000)}")
