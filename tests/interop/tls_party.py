# A party of the real tno.mpc.communication over mutual TLS, for the cross-language TLS test:
#   tls_party.py recv|send LISTEN_PORT PEER_PORT KEY CERT CA PEER_CERT [VALUE]
# recv prints the value received from the peer "cpp"; send sends VALUE (a string) to it. The peer
# is identified by PEER_CERT (certificate identity), or by address when PEER_CERT is "-".
# Exits 77 (skipped) when the package or its tls extra is not installed.
import asyncio
import sys

try:
    import OpenSSL  # noqa: F401  (the tls extra, needed for certificate identity)
    from tno.mpc.communication import Pool
except ImportError as e:
    print(f"SKIPPED: the Python reference with its tls extra is not installed ({e})")
    sys.exit(77)


async def main(mode, listen, peer, key, cert, ca, peer_cert, value=None):
    pool = Pool(key=key, cert=cert, ca_cert=ca)
    pool.add_http_server(addr="127.0.0.1", port=int(listen))
    pool.add_http_client("cpp", addr="127.0.0.1", port=int(peer),
                         cert=None if peer_cert == "-" else peer_cert)
    try:
        if mode == "recv":
            print(await pool.recv("cpp"), flush=True)
        else:
            await pool.send("cpp", value)
    finally:
        await pool.shutdown()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
