#!/usr/bin/env python3
# Seed corpora for the fuzz targets from the shared vectors (each a message body the reference
# sent: the envelope with its payload): the bytes as they are (decoder), and as the body of a
# request from the known peer of fuzz_request.cpp (cookie server_port=1), with a Content-Length,
# and chunked (split in chunks, with chunk extensions, and with a trailer section); plus requests
# that exercise the framing rules (Expect, HEAD, Transfer-Encoding lists).
#   fuzz/make_seeds.py VECTORS_DIR OUT_DIR  ->  OUT_DIR/decode, OUT_DIR/request
import os
import sys


def request(body: bytes) -> bytes:
    head = ("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            f"Cookie: server_port=1\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def chunked(body: bytes, pieces: int, extension: bytes = b"", trailer: bytes = b"") -> bytes:
    head = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: server_port=1\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    step = max(1, -(-len(body) // pieces))
    out = head
    for at in range(0, len(body), step):
        piece = body[at:at + step]
        out += b"%x" % len(piece) + extension + b"\r\n" + piece + b"\r\n"
    return out + b"0" + extension + b"\r\n" + trailer + b"\r\n"


FRAMING = {
    "expect_continue": b"POST / HTTP/1.1\r\nHost: x\r\nCookie: server_port=1\r\n"
                       b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\n\x82\xa1a",
    "head_then_get": b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "te_identity": b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n"
                   b"GET /hidden HTTP/1.1\r\n\r\n",
    "te_gzip_chunked": b"POST / HTTP/1.1\r\nHost: x\r\nCookie: server_port=1\r\n"
                       b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te_and_length": b"POST / HTTP/1.1\r\nHost: x\r\nCookie: server_port=1\r\nContent-Length: 5"
                     b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
}


def main():
    vectors, out = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "decode"), exist_ok=True)
    os.makedirs(os.path.join(out, "request"), exist_ok=True)
    files = sorted(f for f in os.listdir(vectors) if f.endswith(".msgpack"))
    for name in files:
        with open(os.path.join(vectors, name), "rb") as f:
            data = f.read()
        stem = name[: -len(".msgpack")]
        with open(os.path.join(out, "decode", stem), "wb") as f:
            f.write(data)
        with open(os.path.join(out, "request", stem), "wb") as f:
            f.write(request(data))
        with open(os.path.join(out, "request", stem + "_chunked"), "wb") as f:
            f.write(chunked(data, 3))
        with open(os.path.join(out, "request", stem + "_chunked_ext"), "wb") as f:
            f.write(chunked(data, 2, extension=b';name="value";flag'))
        with open(os.path.join(out, "request", stem + "_chunked_trailer"), "wb") as f:
            f.write(chunked(data, 2, trailer=b"X-Checksum: 1234\r\nX-More: yes\r\n"))
    with open(os.path.join(out, "request", "get"), "wb") as f:
        f.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    for name, data in FRAMING.items():
        with open(os.path.join(out, "request", name), "wb") as f:
            f.write(data)
    print(f"{len(files)} seeds in {out}/decode, {4 * len(files) + 1 + len(FRAMING)} in {out}/request")


if __name__ == "__main__":
    main()
