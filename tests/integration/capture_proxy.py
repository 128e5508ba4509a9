#!/usr/bin/python3
"""A TCP proxy between Kafka clients and a broker that records every request a client sends.

Each client->broker request frame (the bytes after the 4-byte size prefix) is written to
`out_dir` as `<client>-<seq>-<api_key>-v<version>.bin`, seq counting frames across all the
proxy's connections in the order the proxy read them (zero-padded, so names sort in order).
Responses are forwarded untouched and not recorded.

For a client to keep using the proxy after bootstrap, start the broker with
advertised.listeners naming the proxy's address: the proxy binds its port first, then learns
where the broker listens (`set_target`).

  proxy = CaptureProxy(out_dir, "kcat")        # binds 127.0.0.1:<free port>
  broker = Broker(..., advertised_port=proxy.port).start()
  proxy.set_target("127.0.0.1", broker.port)
  proxy.start()
  ...
  proxy.stop()

As a program: capture_proxy.py LISTEN_PORT TARGET_HOST:PORT OUT_DIR CLIENT (until Ctrl-C).
"""
import socket
import struct
import sys
import threading
from pathlib import Path

MAX_FRAME = 100 << 20


def forward(src, dst, seen=None):
    """Copies src to dst as bytes come until src closes or either fails (OSError ends it
    quietly); `seen(data)` (if given) looks at each chunk after it is forwarded and may raise
    OSError to end it. Shared with netcut.py's forwarders."""
    try:
        while True:
            data = src.recv(1 << 16)
            if not data:
                return
            dst.sendall(data)
            if seen:
                seen(data)
    except OSError:
        pass


class CaptureProxy:
    def __init__(self, out_dir, client, listen_port=0):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.client = client
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", listen_port))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._target = None
        self._lock = threading.Lock()
        self._seq = 0
        self._sockets = []
        self._threads = []
        self._stopping = threading.Event()
        self.frames = []  # (seq, api_key, version, path)
        self.errors = []

    def set_target(self, host, port):
        self._target = (host, port)

    def start(self):
        assert self._target is not None, "set_target first"
        t = threading.Thread(target=self._accept_loop, name="capture-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self, timeout=10):
        self._stopping.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            socks = list(self._sockets)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in list(self._threads):
            t.join(timeout)

    # ---- internals ----

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=10)
                upstream.settimeout(None)
            except OSError as e:
                self.errors.append(f"connect to broker: {e}")
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets += [client, upstream]
            for target, args in ((self._pump_requests, (client, upstream)),
                                 (self._pump, (upstream, client))):
                t = threading.Thread(target=target, args=args, daemon=True)
                t.start()
                with self._lock:
                    self._threads.append(t)

    @staticmethod
    def _close_both(a, b):
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _pump(self, src, dst, seen=None):
        """Forwards bytes as they come (forward()), then closes both ends."""
        forward(src, dst, seen)
        self._close_both(src, dst)

    def _pump_requests(self, src, dst):
        """Forwards client bytes and cuts them into frames on the side."""
        buf = bytearray()

        def cut(data):
            buf.extend(data)
            while len(buf) >= 4:
                (size,) = struct.unpack(">i", buf[:4])
                if size < 0 or size > MAX_FRAME:
                    self.errors.append(f"{self.client}: frame size {size}")
                    raise OSError("bad frame")
                if len(buf) < 4 + size:
                    break
                self._record(bytes(buf[4:4 + size]))
                del buf[:4 + size]

        self._pump(src, dst, cut)

    def _record(self, frame):
        key, version = struct.unpack(">hh", frame[:4]) if len(frame) >= 4 else (-1, -1)
        with self._lock:
            seq = self._seq
            self._seq += 1
        path = self.out_dir / f"{self.client}-{seq:05d}-{key}-v{version}.bin"
        path.write_bytes(frame)
        with self._lock:
            self.frames.append((seq, key, version, path))

    def api_keys(self):
        with self._lock:
            return {k for _, k, _, _ in self.frames}


def main(argv):
    listen, target, out_dir, client = int(argv[1]), argv[2], argv[3], argv[4]
    host, port = target.rsplit(":", 1)
    proxy = CaptureProxy(out_dir, client, listen_port=listen)
    proxy.set_target(host, int(port))
    proxy.start()
    print(f"capturing {client} on 127.0.0.1:{proxy.port} -> {target} into {out_dir}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    main(sys.argv)
