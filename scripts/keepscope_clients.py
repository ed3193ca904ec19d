#!/usr/bin/env python3
"""Scripted HTTP clients for keepscope's loopback captures (standard library only).

    keepscope_clients.py SCENARIO HOST PORT [PORT2]

Each scenario drives one pattern the capture must show; see captures/README.md
for what each one is expected to put on the wire. Raw sockets are used where
the exact bytes and timing matter (HTTP/1.0 keep-alive, pipelining, requests
sent on a connection the server has given up); http.client where an ordinary
library client is the point.
"""
import http.client
import socket
import struct
import sys
import time


def connect(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect((host, port))
    return sock


def host_header(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def request_bytes(method, path, host, port, version="HTTP/1.1", headers=()):
    lines = ["%s %s %s" % (method, path, version), "Host: " + host_header(host, port),
             "User-Agent: keepscope-recorder"]
    lines += ["%s: %s" % header for header in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


class ResponseReader:
    """Reads whole HTTP/1.x responses from a socket, keeping leftover bytes."""

    def __init__(self, sock):
        self.sock = sock
        self.buffered = b""
        self.eof = False

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.buffered += chunk
        return bool(chunk)

    def _line(self):
        while b"\r\n" not in self.buffered:
            if not self._fill():
                return None
        line, _, self.buffered = self.buffered.partition(b"\r\n")
        return line

    def _exact(self, count):
        while len(self.buffered) < count:
            if not self._fill():
                break
        data, self.buffered = self.buffered[:count], self.buffered[count:]
        return data

    def read(self, method="GET"):
        """Returns (status, headers dict with lower-case names, body) or None at EOF/reset."""
        status_line = self._line()
        if status_line is None:
            return None
        parts = status_line.decode("latin-1").split(" ", 2)
        status = int(parts[1])
        headers = {}
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size_line = self._line()
                if size_line is None:
                    break
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailers up to the empty line
                        pass
                    break
                body += self._exact(size)
                self._line()
            return status, headers, body
        if "content-length" in headers:
            return status, headers, self._exact(int(headers["content-length"]))
        while self._fill():  # close-delimited
            pass
        body, self.buffered = self.buffered, b""
        return status, headers, body

    def wait_eof(self):
        """Reads until the peer closes; returns 'fin' or 'rst'."""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return "rst"
            if not chunk:
                return "fin"


def log(message):
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def show(label, response):
    if response is None:
        log("%s: no response (connection closed)" % label)
    else:
        status, headers, body = response
        log("%s: %d connection=%s body=%d" % (label, status, headers.get("connection"), len(body)))


def http10_keepalive(host, nginx_port, http10_port):
    # HTTP/1.0 with Connection: keep-alive: nginx keeps the connection open.
    sock = connect(host, nginx_port)
    reader = ResponseReader(sock)
    for path in ("/a", "/b"):
        sock.sendall(request_bytes("GET", path, host, nginx_port, "HTTP/1.0", [("Connection", "keep-alive")]))
        show("nginx 1.0 keep-alive " + path, reader.read())
        time.sleep(0.1)
    sock.close()
    time.sleep(0.2)
    # Plain HTTP/1.0 to python's HTTP/1.0 server: the server closes after the response.
    sock = connect(host, http10_port)
    reader = ResponseReader(sock)
    sock.sendall(request_bytes("GET", "/a", host, http10_port, "HTTP/1.0"))
    show("http.server 1.0 /a", reader.read())
    log("server close: " + reader.wait_eof())
    sock.close()


def python_http11(host, port):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    for index, path in enumerate(("/a", "/b", "/c")):
        last = index == 2
        conn.request("GET", path, headers={"Connection": "close"} if last else {})
        response = conn.getresponse()
        body = response.read()
        log("http.client %s: %d connection=%s body=%d" % (path, response.status,
                                                         response.getheader("Connection"), len(body)))
        time.sleep(0.1)
    time.sleep(0.2)
    conn.close()


def idle_timeout(host, port):
    # 1) request, then sit idle: nginx (keepalive_timeout 1s) closes first, unannounced.
    sock = connect(host, port)
    reader = ResponseReader(sock)
    sock.sendall(request_bytes("GET", "/a", host, port))
    show("idle: /a", reader.read())
    time.sleep(2.0)
    sock.close()
    time.sleep(0.2)
    # 2) request, sleep past nginx's FIN without reading it, then reuse the connection.
    sock = connect(host, port)
    reader = ResponseReader(sock)
    sock.sendall(request_bytes("GET", "/a", host, port))
    show("stale: /a", reader.read())
    time.sleep(1.5)
    try:
        sock.sendall(request_bytes("GET", "/b", host, port))
        log("stale: /b sent after the server's FIN")
    except OSError as error:
        log("stale: send failed: %s" % error)
    time.sleep(0.2)
    show("stale: /b", reader.read())
    sock.close()


def keepalive_requests(host, port):
    # 5 sequential requests, reconnecting whenever the server announced close.
    sock, reader = None, None
    for number in range(1, 6):
        if sock is None:
            sock = connect(host, port)
            reader = ResponseReader(sock)
        sock.sendall(request_bytes("GET", "/r%d" % number, host, port))
        response = reader.read()
        show("max-requests /r%d" % number, response)
        if response is None or response[1].get("connection", "").lower() == "close":
            log("server close: " + reader.wait_eof())
            sock.close()
            sock = None
        time.sleep(0.05)
    if sock is not None:
        sock.close()
    time.sleep(0.3)
    # A client that ignores "Connection: close": after the 3rd response it sends
    # a 4th request at once, before reading anything more.
    sock = connect(host, port)
    reader = ResponseReader(sock)
    for number in range(1, 4):
        sock.sendall(request_bytes("GET", "/w%d" % number, host, port))
        show("after-close /w%d" % number, reader.read())
    try:
        sock.sendall(request_bytes("GET", "/w4", host, port))
        log("after-close: /w4 sent after Connection: close")
    except OSError as error:
        log("after-close: send failed: %s" % error)
    show("after-close /w4", reader.read())
    sock.close()


def pipelining(host, port):
    sock = connect(host, port)
    reader = ResponseReader(sock)
    requests = [("GET", "/a", []), ("HEAD", "/b", []), ("GET", "/nocontent", []),
                ("GET", "/chunked", [("Accept-Encoding", "gzip")]),
                ("GET", "/close", [("Connection", "close")])]
    # All five in one send(): one segment on loopback.
    sock.sendall(b"".join(request_bytes(method, path, host, port, headers=headers)
                          for method, path, headers in requests))
    for method, path, _ in requests:
        response = reader.read(method)
        show("pipelined %s %s" % (method, path), response)
        if response is not None and path == "/chunked":
            log("  transfer-encoding=%s" % response[1].get("transfer-encoding"))
    log("server close: " + reader.wait_eof())
    sock.close()


def missed_reuse(host, port):
    first = http.client.HTTPConnection(host, port, timeout=10)
    first.request("GET", "/a")
    response = first.getresponse()
    log("A /a: %d body=%d" % (response.status, len(response.read())))
    time.sleep(0.3)  # A is idle and reusable now, but the client opens B.
    second = http.client.HTTPConnection(host, port, timeout=10)
    second.request("GET", "/b")
    response = second.getresponse()
    log("B /b: %d body=%d" % (response.status, len(response.read())))
    time.sleep(0.2)
    second.close()
    first.close()


def rst_close(host, port):
    # 1) the server resets after its response.
    sock = connect(host, port)
    reader = ResponseReader(sock)
    sock.sendall(request_bytes("GET", "/rst", host, port))
    show("server-rst /rst", reader.read())
    log("server close: " + reader.wait_eof())
    sock.close()
    time.sleep(0.2)
    # 2) the client resets after reading its response (SO_LINGER 0, then close).
    sock = connect(host, port)
    reader = ResponseReader(sock)
    sock.sendall(request_bytes("GET", "/keep", host, port))
    show("client-rst /keep", reader.read())
    time.sleep(0.2)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


SCENARIOS = {
    "http10-keepalive": http10_keepalive,
    "python-http11": python_http11,
    "idle-timeout": idle_timeout,
    "keepalive-requests": keepalive_requests,
    "pipelining": pipelining,
    "missed-reuse": missed_reuse,
    "rst-close": rst_close,
}


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in SCENARIOS:
        sys.exit("usage: keepscope_clients.py {%s} HOST PORT [PORT2]" % ",".join(SCENARIOS))
    ports = [int(port) for port in sys.argv[3:]]
    SCENARIOS[sys.argv[1]](sys.argv[2], *ports)


if __name__ == "__main__":
    main()
