"""A small MQTT 3.1.1 client for the integration tests (stdlib only).

Enough of the protocol to publish with QoS 0/1 and to subscribe and read
messages, with every wait bounded by a deadline. Tests use it instead of
spawning mosquitto_pub per message so that order and timing are theirs.
"""
import socket
import ssl
import struct
import time


def _encode_len(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


class MqttError(Exception):
    pass


class Client:
    def __init__(self, port, client_id, host="127.0.0.1", clean=True, keepalive=60, timeout=10.0,
                 tls=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context(cafile=tls["ca"])
            if tls.get("cert"):
                ctx.load_cert_chain(tls["cert"], tls["key"])
            self.sock = ctx.wrap_socket(self.sock, server_hostname=tls.get("server_name", "localhost"))
        self.buf = b""
        self.next_id = 1
        flags = 0x02 if clean else 0
        var = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
        self._send(0x10, var + _str(client_id))
        ptype, body = self._read_packet(time.monotonic() + timeout)
        if ptype != 0x20 or body[1] != 0:
            raise MqttError("CONNACK refused: %r" % (body,))

    def _send(self, header, body):
        self.sock.sendall(bytes([header]) + _encode_len(len(body)) + body)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("MQTT read timed out")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("MQTT read timed out")
        if not chunk:
            raise MqttError("connection closed by broker")
        self.buf += chunk

    def _read_packet(self, deadline):
        while True:
            if len(self.buf) >= 2:
                mult, length, i = 1, 0, 1
                while i < len(self.buf):
                    byte = self.buf[i]
                    length += (byte & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not byte & 0x80:
                        break
                else:
                    self._fill(deadline)
                    continue
                if len(self.buf) >= i + length:
                    header = self.buf[0]
                    body = self.buf[i:i + length]
                    self.buf = self.buf[i + length:]
                    return header & 0xF0, body if header & 0xF0 != 0x30 else (header, body)
            self._fill(deadline)

    def _packet_id(self):
        pid = self.next_id
        self.next_id = self.next_id % 65535 + 1
        return pid

    def publish(self, topic, payload, qos=1, timeout=10.0, retain=False):
        if isinstance(payload, str):
            payload = payload.encode()
        flags = 0x01 if retain else 0
        if qos == 0:
            self._send(0x30 | flags, _str(topic) + payload)
            return
        pid = self._packet_id()
        self._send(0x32 | flags, _str(topic) + struct.pack("!H", pid) + payload)
        deadline = time.monotonic() + timeout
        while True:
            ptype, body = self._read_packet(deadline)
            if ptype == 0x40 and struct.unpack("!H", body[:2])[0] == pid:
                return

    def subscribe(self, topic_filter, qos=1, timeout=10.0):
        pid = self._packet_id()
        self._send(0x82, struct.pack("!H", pid) + _str(topic_filter) + bytes([qos]))
        deadline = time.monotonic() + timeout
        while True:
            ptype, body = self._read_packet(deadline)
            if ptype == 0x90:
                return

    def receive(self, timeout):
        """Next (topic, payload) or None when nothing arrives before the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ptype, body = self._read_packet(deadline)
            except TimeoutError:
                return None
            if ptype != 0x30:
                continue
            header, data = body
            tlen = struct.unpack("!H", data[:2])[0]
            topic = data[2:2 + tlen].decode()
            rest = data[2 + tlen:]
            qos = (header >> 1) & 3
            if qos:
                pid = struct.unpack("!H", rest[:2])[0]
                rest = rest[2:]
                self._send(0x40, struct.pack("!H", pid))
            return topic, rest

    def close(self):
        try:
            self._send(0xE0, b"")
        except OSError:
            pass
        self.sock.close()
