#!/usr/bin/env python3
"""The least a Python gateway does, for bench/gateway.py: keep-alive HTTP/1.1
in (asyncio streams, standard library), parse the JSON request (a gateway
reads the model), forward on pooled keep-alive connections, parse the JSON
answer (a gateway reads the usage), reply. No auth, no limits, no storage: a
floor for Python gateways' cost (frameworks such as FastAPI + httpx add more).
env: PROXY_PORT, UPSTREAM_PORT."""
import asyncio
import json
import os

UPSTREAM_PORT = int(os.environ["UPSTREAM_PORT"])
idle = []  # pooled upstream (reader, writer) pairs


async def read_message(reader):
    """(first line, lower-case headers, body) of one HTTP/1.1 message with Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0], headers, body


async def forward(method, path, body):
    conn = idle.pop() if idle else await asyncio.open_connection("127.0.0.1", UPSTREAM_PORT)
    r, w = conn
    w.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{UPSTREAM_PORT}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await w.drain()
    status_line, headers, answer = await read_message(r)
    if headers.get("connection", "").lower() == "close":
        w.close()
    else:
        idle.append(conn)
    return int(status_line.split()[1]), answer


async def handle(reader, writer):
    try:
        while True:
            request_line, headers, body = await read_message(reader)
            method, path, _ = request_line.split(" ", 2)
            try:
                out = json.dumps(json.loads(body)).encode()
                status, answer = await forward(method, path, out)
                answer = json.dumps(json.loads(answer)).encode()
            except ValueError:
                status, answer = 400, b'{"error":{"message":"invalid JSON"}}'
            writer.write(f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(os.environ["PROXY_PORT"]))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
