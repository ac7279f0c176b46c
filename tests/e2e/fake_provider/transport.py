"""HTTP plumbing of the request handler: reading bodies (chunked too), replies bent by
the scripted step, and streamed bodies with scripted stalls, cuts and malformed frames."""
import select
import socket
import ssl
import time
from http.server import BaseHTTPRequestHandler

from .common import _dumps


class _HttpTransport(BaseHTTPRequestHandler):
    """The handler's HTTP/1.1 side; the provider surfaces are mixins over it (see handler.py)."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-provider/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.abrupt = False
        self.step = {}

    def log_message(self, *args):
        pass

    def version_string(self):
        return self.server_version

    @property
    def provider(self):
        return self.server.provider

    # -- HTTP plumbing ---------------------------------------------------------
    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    return None
                data += chunk
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            return None
        data = self.rfile.read(n) if n > 0 else b""
        return data if len(data) == n else None

    def _send(self, status, data, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_json(self, status, obj, headers=None, indent=None, content_type="application/json"):
        self._send(status, _dumps(obj, indent), content_type, headers)

    def _send_text(self, status, text, headers=None):
        self._send(status, text.encode(), "text/plain; charset=utf-8", headers)

    def _reply(self, obj, headers=None, indent=None, content_type="application/json"):
        """A successful non-streamed answer, bent by the scripted step."""
        data = _dumps(obj, indent)
        st = self.step
        if "stall_after_chunks" in st:
            return self._stall()
        if st.get("malformed_chunk", False) is not False:
            data = data[:len(data) // 2]  # a truncated object is never valid JSON
        if "cut_after_chunks" in st:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            return self._abort()
        self._send(200, data, content_type, headers)

    def _abort(self):
        """Close the connection now, without a (complete) response."""
        self.close_connection = True
        self.abrupt = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _stall(self):
        """Send nothing more until the client hangs up (or stall_timeout), then close."""
        p = self.provider
        sock = self.connection
        deadline = time.monotonic() + float(self.step.get("stall_seconds", p.stall_timeout))
        self.close_connection = True
        self.abrupt = True
        try:
            sock.settimeout(0.1)
            while time.monotonic() < deadline and not p._stopping.is_set():
                readable, _, _ = select.select([sock], [], [], 0.1)
                if not readable:
                    continue
                try:
                    if not sock.recv(4096):
                        return  # the client hung up
                except (ssl.SSLWantReadError, TimeoutError):
                    continue
        except (OSError, ValueError):
            return
        self._abort()

    def _sleep(self, seconds):
        self.provider._stopping.wait(float(seconds))

    def _client_gone(self):
        """True when a plain-TCP client has hung up (TLS can't peek: a later write fails instead)."""
        if isinstance(self.connection, ssl.SSLSocket):
            return False
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    def _token_pause(self, seconds):
        """Sleeps between tokens; False when the client hung up meanwhile."""
        deadline = time.monotonic() + seconds
        while not self.provider._stopping.is_set():
            if self._client_gone():
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            self.provider._stopping.wait(min(left, 0.05))
        return True

    def _start_stream(self, content_type, headers=None):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self._chunked = self.request_version != "HTTP/1.0"
        if self._chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _write(self, data):
        if not data:
            return  # an empty chunk would end the body
        if self._chunked:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)

    def _stream(self, content_type, frames, first_token, n_tokens, bad_frame, headers=None):
        """Writes frames (bytes) as a streamed body; frames[first_token:first_token+n_tokens]
        carry one token each. Scripted stalls, cuts and malformed frames land after
        the given number of token frames."""
        st = self.step
        p = self.provider

        def at(n):
            return first_token + min(max(int(n), 0), n_tokens)

        bad = st.get("malformed_chunk", False)
        bad_at = None if bad is False or bad is None else at(max(1, n_tokens // 2) if bad is True else bad)
        stall_at = at(st["stall_after_chunks"]) if "stall_after_chunks" in st else None
        cut_at = at(st["cut_after_chunks"]) if "cut_after_chunks" in st else None
        delay = float(st.get("token_delay", p.token_delay) or 0)
        self._start_stream(content_type, headers)
        for j in range(len(frames) + 1):
            if j == bad_at:
                self._write(bad_frame)
            if j == stall_at:
                return self._stall()
            if j == cut_at:
                return self._abort()
            if j == len(frames):
                break
            if delay and first_token <= j < first_token + n_tokens and not self._token_pause(delay):
                return self._abort()
            self._write(frames[j])
        if self._chunked:
            self.wfile.write(b"0\r\n\r\n")
