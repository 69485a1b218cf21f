#!/usr/bin/env python3
# Seed corpora for the fuzz targets from the shared vectors (each a message body the reference
# sent: the envelope with its payload): the bytes as they are (decoder), and as the body of a
# request from the known peer of fuzz_request.cpp (cookie server_port=1).
#   fuzz/make_seeds.py VECTORS_DIR OUT_DIR  ->  OUT_DIR/decode, OUT_DIR/request
import os
import sys


def request(body: bytes) -> bytes:
    head = ("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            f"Cookie: server_port=1\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


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
    with open(os.path.join(out, "request", "get"), "wb") as f:
        f.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    print(f"{len(files)} seeds each in {out}/decode and {out}/request")


if __name__ == "__main__":
    main()
