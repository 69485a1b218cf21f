# A party of the real tno.mpc.communication for the cross-language shell tests:
#   party.py recv|send --listen PORT --peer PORT [--tls KEY CERT CA] [--peer-cert PATH] [VALUE]
# Its one peer is called "cpp" and lives on 127.0.0.1. recv prints the value received from it
# (default id); send sends VALUE (a string). With --peer-cert the peer is identified by its
# certificate. Exits 77 (skipped) when the package (or, for TLS, its tls extra) is missing.
import argparse
import asyncio
import sys

try:
    from tno.mpc.communication import Pool
except ImportError as e:
    print(f"SKIPPED: the Python reference is not installed ({e}); run scripts/setup-python-ref.sh")
    sys.exit(77)


async def main(args):
    key, cert, ca = args.tls or (None, None, None)
    pool = Pool(key=key, cert=cert, ca_cert=ca)
    pool.add_http_server(addr="127.0.0.1", port=args.listen)
    pool.add_http_client("cpp", addr="127.0.0.1", port=args.peer, cert=args.peer_cert)
    try:
        if args.mode == "recv":
            print(await pool.recv("cpp"), flush=True)
        else:
            await pool.send("cpp", args.value)
    finally:
        await pool.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["recv", "send"])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--peer", type=int, required=True)
    parser.add_argument("--tls", nargs=3, metavar=("KEY", "CERT", "CA"))
    parser.add_argument("--peer-cert")
    parser.add_argument("value", nargs="?")
    arguments = parser.parse_intermixed_args()
    if arguments.tls or arguments.peer_cert:
        try:
            import OpenSSL  # noqa: F401  (the tls extra, for certificate identity)
        except ImportError as e:
            print(f"SKIPPED: the tls extra of the Python reference is not installed ({e})")
            sys.exit(77)
    asyncio.run(main(arguments))
