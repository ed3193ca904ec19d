#!/usr/bin/env python3
"""Loopback-only HTTP test server for recording keepscope's captures.

Standard library only. It listens on 127.0.0.1 and never on any other address.

    keepscope_testserver.py [--http PORT]... [--rst PORT]...

--http PORT   an HTTP/1.1 keep-alive server (http.server subclass), one thread
              per connection. Paths:
                /slow?s=4.5        waits s seconds (at most 10), then 200
                /nocontent         204, no body
                /chunked           200 with Transfer-Encoding: chunked
                /close             200 with Connection: close, then closes
                /expect/continue   Expect: 100-continue -> 100 Continue, read body, 200
                /expect/reject417  Expect: 100-continue -> 417 before any body,
                                   connection kept open (keeps reading requests)
                /expect/final401   Expect: 100-continue -> 401 before any body,
                                   connection kept open (keeps reading requests)
                /expect/final413   Expect: 100-continue -> 413 with Connection: close
                                   before any body, then the server closes
                /expect/ignore     never sends 100; just reads the body, then 200
                anything else      200 "ok PATH"
              POST/PUT read the body (Content-Length) and answer 200 "got N".
--rst PORT    a raw-socket server. For a request to /rst it answers 200 with a
              Content-Length and then closes abortively (SO_LINGER 0 -> RST);
              any other path gets a 200 and the connection stays open for more
              requests until the client goes away.

Bodies are a few bytes so the captures stay small.
"""
import argparse
import http.server
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

LOOPBACK = "127.0.0.1"
MAX_SLOW_S = 10.0


class TestHandler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 so that connections persist unless a side says close.
    protocol_version = "HTTP/1.1"
    server_version = "keepscope-testserver/1"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        # One line per request on stderr; the recording script sends it to a log file.
        sys.stderr.write("%s:%d %s\n" % (self.client_address[0], self.client_address[1], format % args))

    def _path(self):
        return urllib.parse.urlsplit(self.path).path

    def _send_small(self, status, body, extra_headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # Called by parse_request() for "Expect: 100-continue" on an HTTP/1.1 request.
    # Returning False means "a final response was already sent; skip the method".
    def handle_expect_100(self):
        path = self._path()
        if path == "/expect/reject417":
            self._send_small(417, b"expectation failed\n")
            return False
        if path == "/expect/final401":
            # The connection stays usable from the server's view: the next bytes
            # the client sends are read as a new request.
            self._send_small(401, b"unauthorized\n", [("WWW-Authenticate", 'Basic realm="keepscope"')])
            return False
        if path == "/expect/final413":
            self._send_small(413, b"too large\n", [("Connection", "close")])
            self.close_connection = True
            return False
        if path == "/expect/ignore":
            # Pretend Expect was never sent: no 100, the method reads the body.
            return True
        return super().handle_expect_100()

    def do_GET(self):
        path = self._path()
        if path == "/slow":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            try:
                seconds = float(query.get("s", ["5"])[0])
            except ValueError:
                seconds = 5.0
            time.sleep(max(0.0, min(seconds, MAX_SLOW_S)))
            self._send_small(200, b"slow\n")
        elif path == "/nocontent":
            self.send_response(204)
            self.end_headers()
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                out = b""
                for part in (b"first chunk\n", b"second chunk\n"):
                    out += b"%x\r\n%s\r\n" % (len(part), part)
                self.wfile.write(out + b"0\r\n\r\n")
        elif path == "/close":
            self._send_small(200, b"bye\n", [("Connection", "close")])
            self.close_connection = True
        else:
            self._send_small(200, b"ok " + path.encode("ascii", "replace") + b"\n")

    def do_HEAD(self):
        self.do_GET()

    def _read_body(self):
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        return self.rfile.read(max(0, length))

    def do_POST(self):
        body = self._read_body()
        self._send_small(200, b"got %d\n" % len(body))

    do_PUT = do_POST


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def read_head(conn, buffered):
    """Read one request head from conn; returns (head_bytes, leftover) or (None, b'')."""
    while b"\r\n\r\n" not in buffered:
        try:
            chunk = conn.recv(4096)
        except OSError:
            return None, b""
        if not chunk:
            return None, b""
        buffered += chunk
    head, _, rest = buffered.partition(b"\r\n\r\n")
    return head, rest


def rst_connection(conn, peer):
    buffered = b""
    with conn:
        while True:
            head, buffered = read_head(conn, buffered)
            if head is None:
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            sys.stderr.write("rst-server %s:%d %s\n" % (peer[0], peer[1], request_line))
            parts = request_line.split(" ")
            path = parts[1] if len(parts) > 1 else "/"
            body = b"reset follows\n" if path == "/rst" else b"ok " + path.encode("latin-1") + b"\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            if path == "/rst":
                # Give the client time to read the response, then abort: linger
                # on with a zero timeout makes close() send RST instead of FIN.
                time.sleep(0.2)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return


def open_listener(port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOOPBACK, port))
    listener.listen(16)
    return listener


def serve_rst(listener):
    while True:
        conn, peer = listener.accept()
        threading.Thread(target=rst_connection, args=(conn, peer), daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description="loopback HTTP test server for keepscope captures")
    parser.add_argument("--http", type=int, action="append", default=[], metavar="PORT")
    parser.add_argument("--rst", type=int, action="append", default=[], metavar="PORT")
    args = parser.parse_args()
    if not args.http and not args.rst:
        parser.error("give at least one --http or --rst port")
    threads = []
    for port in args.http:
        server = ThreadingServer((LOOPBACK, port), TestHandler)
        threads.append(threading.Thread(target=server.serve_forever, daemon=True))
    # Bind everything before starting any thread so a busy port fails the whole process.
    for port in args.rst:
        threads.append(threading.Thread(target=serve_rst, args=(open_listener(port),), daemon=True))
    for thread in threads:
        thread.start()
    sys.stderr.write("keepscope_testserver listening: http=%s rst=%s\n" % (args.http, args.rst))
    sys.stderr.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
