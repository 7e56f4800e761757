"""The bench's webhook receiver: `python -m bench.notify_receiver PORT OUT.json`. Answers every POST 200 at once,
notes when each event id first arrived (wall clock, comparable with the producer's commit times on this machine)
and how many POSTs repeated an id, and writes them to OUT.json when it gets SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

from aiohttp import web


def main(port: int, out: str) -> None:
    first: dict[str, float] = {}
    posts = {"n": 0, "repeats": 0}

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        key = request.headers.get("Idempotency-Key", "")
        posts["n"] += 1
        if key in first:
            posts["repeats"] += 1
        else:
            first[key] = time.time()
        return web.Response(text="ok")

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())
    with open(out, "w") as f:
        json.dump({"first": first, "posts": posts["n"], "repeats": posts["repeats"]}, f)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
