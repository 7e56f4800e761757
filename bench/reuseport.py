"""Run an ASGI app in one uvicorn process on a socket opened with SO_REUSEPORT.

Start it N times on the same port and the kernel spreads connections across the N processes. This is the
"several single-worker processes" set-up of the peer baselines (bench/README.md, "Peer figures"), which kept TCP_NODELAY where `uvicorn --workers 2` lost it.

    python -m bench.reuseport ducting.app:create_app --factory --port 8001
"""

from __future__ import annotations

import argparse
import socket

import uvicorn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reuseport", description=__doc__.splitlines()[0])
    parser.add_argument("app", help="module:attribute of the ASGI app (or of its factory, with --factory)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--factory", action="store_true")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args(argv)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((args.host, args.port))
    config = uvicorn.Config(
        args.app,
        factory=args.factory,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=not args.no_access_log,
    )
    uvicorn.Server(config).run(sockets=[sock])  # uvicorn listens on the socket it is given


if __name__ == "__main__":
    main()
