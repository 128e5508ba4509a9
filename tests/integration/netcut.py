"""TCP forwarders that let a test cut one broker off the network and heal it again.

Why: the fault tests need a broker that keeps running but that nobody can reach. Network
namespaces or iptables would do it in the kernel but need privileges CI may not have, so
every path to a broker in the failover cluster goes through a forwarder in the test process:
its advertised listener is an inbound Link (clients and the other brokers' replica fetchers
connect there), and its `controller.quorum.voters` names a Link of its own to the
coordinator. cut() on both is a network partition around that broker.

A cut Link closes the connections it forwards and black-holes new ones: it accepts them and
never forwards a byte, until heal() closes them. Black-holing models a partition better than
refusing: behind a lost link a peer's connect and requests go unanswered and only its own
timeouts tell it, where a refused connection would tell it at once. The connections open at
the cut are closed (the peers learn at once, like a reset), so that the tests need not wait
out every client's and broker's request timeout; heal() closing the held ones models what
the far side does with packets of a connection it never saw (a reset).

cut_clients(prefix) cuts one kind of client only: the connections whose first request names
a client id starting with `prefix` (a follower's replica fetcher is "broker-<id>-fetcher-<leader
id>"), closed if open and black-holed if new, until heal_clients(). So one follower's path to one
leader can be cut while everything else reaches that leader, and the follower reaches the
coordinator. A Link reads each connection's first request header before forwarding it, to know
its client id.

What it can't do:
- It is an asymmetric partition: the broker's own outbound connections (its replica
  fetchers to other leaders) don't go through its own Link and keep working; on loopback
  every process has the same source address, so there is nothing to tell them apart by but
  their client ids at the far end (cut_clients).
- Whoever knows the broker's real port (the test itself, Broker.port) still reaches it:
  the tests use that to ask the cut-off broker what it answers on its side of the partition.
- It cuts whole connections only: no packet loss, delay or reordering.
"""
import socket
import struct
import threading

from capture_proxy import forward

CONNECT_TIMEOUT_S = 5


class Link:
    """Forwards connections to 127.0.0.1:<port> on to target(), a callable giving the
    (host, port) to connect to at that moment (a restarted broker may have moved)."""

    def __init__(self, name, target=None):
        self.name = name
        self._target = target
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._cut = False
        self._generation = 0  # bumped by cut() and heal(): a connection of an older one is closed
        self._open = set()    # sockets of forwarded connections (both ends)
        self._held = set()    # connections accepted while cut, never forwarded
        self._cut_clients = set()  # client id prefixes cut_clients() cut
        self._client_of = {}  # client socket (forwarded, or held by cut_clients) -> its client id
        self._stopping = False
        self._accepter = None

    def set_target(self, target):
        self._target = target

    def start(self):
        assert self._target is not None, "set_target first"
        self._accepter = threading.Thread(target=self._accept_loop, name=f"netcut-{self.name}", daemon=True)
        self._accepter.start()
        return self

    @property
    def is_cut(self):
        return self._cut

    def cut(self):
        """Closes every connection through this link; new ones are black-holed until heal()."""
        with self._lock:
            self._cut = True
            self._generation += 1
            doomed = list(self._open)
            self._open.clear()
            self._client_of.clear()
        _close_all(doomed)

    def heal(self):
        """Forwards new connections again; closes the ones held while cut."""
        with self._lock:
            self._cut = False
            self._generation += 1
            doomed = list(self._held)
            self._held.clear()
            for c in doomed:
                self._client_of.pop(c, None)
        _close_all(doomed)

    def cut_clients(self, prefix):
        """Closes the connections whose client id starts with `prefix`; new ones are
        black-holed until heal_clients()."""
        with self._lock:
            self._cut_clients.add(prefix)
            doomed = [c for c, cid in self._client_of.items() if cid.startswith(prefix) and c in self._open]
        for c in doomed:
            self._drop(c)  # its pump then drops the upstream end

    def heal_clients(self):
        """Forwards every client again; closes the connections held since cut_clients()."""
        with self._lock:
            self._cut_clients.clear()
            doomed = [c for c in self._held if c in self._client_of]
            for c in doomed:
                self._held.discard(c)
                del self._client_of[c]
        _close_all(doomed)

    def held_clients(self, prefix):
        """How many connections of clients whose id starts with `prefix` are held."""
        with self._lock:
            return sum(1 for c in self._held if self._client_of.get(c, "").startswith(prefix))

    def stop(self):
        with self._lock:
            self._stopping = True
            doomed = list(self._open) + list(self._held)
            self._open.clear()
            self._held.clear()
            self._client_of.clear()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        _close_all(doomed)
        if self._accepter is not None:
            self._accepter.join(10)

    # ---- internals ----

    def _accept_loop(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stop() closed the listener
            with self._lock:
                if self._stopping:
                    client.close()
                    return
                if self._cut:
                    self._held.add(client)
                    continue
                generation = self._generation
                self._open.add(client)
            threading.Thread(target=self._connect, args=(client, generation), daemon=True).start()

    def _connect(self, client, generation):
        try:
            first, client_id = _first_request_header(client)
        except OSError:  # closed, or not a Kafka request within the timeout
            self._drop(client)
            return
        with self._lock:
            if client not in self._open:  # cut meanwhile
                return
            self._client_of[client] = client_id
            if any(client_id.startswith(p) for p in self._cut_clients):
                self._open.discard(client)
                self._held.add(client)
                return
        try:
            upstream = socket.create_connection(self._target(), timeout=CONNECT_TIMEOUT_S)
            upstream.sendall(first)
            upstream.settimeout(None)
            for s in (client, upstream):  # forwarded as they come: no Nagle delay on top
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # the target is down: the client sees its connection closed
            self._drop(client)
            return
        with self._lock:
            live = generation == self._generation and not self._stopping and client in self._open
            if live:
                self._open.add(upstream)
        if not live:  # cut (or healed and cut) while connecting
            _close_all([client, upstream])
            return
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    def _pump(self, src, dst):
        """Copies src to dst until either end closes; then closes both (Kafka never half-closes)."""
        forward(src, dst)
        self._drop(src, dst)

    def _drop(self, *socks):
        with self._lock:
            for s in socks:
                self._open.discard(s)
                self._client_of.pop(s, None)
        _close_all(socks)


def _recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("closed before its first request")
        data += chunk
    return data


def _first_request_header(sock):
    """Reads a connection's first request up to the end of its client id (request header v1
    and v2 both start size, api key, version, correlation id, then the client id as an int16
    length and bytes): (the bytes read, the client id, "" if null)."""
    sock.settimeout(CONNECT_TIMEOUT_S)
    head = _recv_exactly(sock, 14)
    (length,) = struct.unpack(">h", head[12:14])
    name = _recv_exactly(sock, length) if length > 0 else b""
    sock.settimeout(None)
    return head + name, name.decode("utf-8", "replace")


def _close_all(socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


class BrokerLinks:
    """A broker's two links: `inbound` (its advertised listener) and `coordinator` (its
    controller.quorum.voters). cut() and heal() act on both."""

    def __init__(self, node_id, coordinator_port):
        self.inbound = Link(f"broker-{node_id}-in")
        self.coordinator = Link(f"broker-{node_id}-coordinator", lambda: ("127.0.0.1", coordinator_port))

    def voters(self, coordinator_id=100):
        return f"{coordinator_id}@127.0.0.1:{self.coordinator.port}"

    def start(self, broker):
        self.inbound.set_target(lambda: ("127.0.0.1", broker.port))
        self.inbound.start()
        self.coordinator.start()
        return self

    def cut(self):
        self.coordinator.cut()
        self.inbound.cut()

    def heal(self):
        self.inbound.heal()
        self.coordinator.heal()

    def stop(self):
        self.inbound.stop()
        self.coordinator.stop()
