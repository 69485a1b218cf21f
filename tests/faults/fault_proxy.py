#!/usr/bin/env python3
# A fault-injecting TCP proxy for tests: forwards LISTEN -> TARGET and, as told, resets
# connections in the middle of the data, stalls connections (accepts and never forwards), delays
# data, or closes connections that sit idle. All choices come from one seeded random generator, so
# a failing run replays with the same --seed. Prints one line per fault on stderr, and "ready" on
# stdout once it listens.
#
#   fault_proxy.py --listen PORT --target PORT [--target-host IP] [--seed N] [--reset-chance P] [--stall-first N]
#                  [--delay-ms MS] [--idle-close-ms MS]
import argparse
import asyncio
import random
import socket
import struct
import sys


def reset(writer):
    """Closes with RST (SO_LINGER 0) instead of FIN: the peer sees 'connection reset'."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Proxy:
    def __init__(self, args):
        self.args = args
        self.random = random.Random(args.seed)
        self.connections = 0

    def log(self, text):
        print(f"fault_proxy: {text}", file=sys.stderr, flush=True)

    async def pipe(self, name, reader, writer, other):
        a = self.args
        try:
            while True:
                timeout = a.idle_close_ms / 1000 if a.idle_close_ms else None
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout)
                except asyncio.TimeoutError:
                    self.log(f"{name}: idle {a.idle_close_ms} ms, closed")
                    writer.close()
                    other.close()
                    return
                if not data:
                    writer.close()
                    return
                if a.delay_ms:
                    await asyncio.sleep(a.delay_ms / 1000)
                if self.random.random() < a.reset_chance:
                    cut = self.random.randrange(len(data) + 1)
                    writer.write(data[:cut])
                    await writer.drain()
                    self.log(f"{name}: reset after {cut} of {len(data)} bytes")
                    reset(writer)
                    reset(other)
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            writer.close()
            other.close()

    async def handle(self, client_reader, client_writer):
        self.connections += 1
        if self.connections <= self.args.stall_first:
            self.log(f"connection {self.connections}: stalled (accepted, never answered)")
            await asyncio.sleep(3600)
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(self.args.target_host,
                                                                         self.args.target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self.pipe("to server", client_reader, server_writer, client_writer),
            self.pipe("to client", server_reader, client_writer, server_writer))


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--target-host", default="127.0.0.1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reset-chance", type=float, default=0.0)
    ap.add_argument("--stall-first", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--idle-close-ms", type=float, default=0.0)
    args = ap.parse_args()
    proxy = Proxy(args)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", args.listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
