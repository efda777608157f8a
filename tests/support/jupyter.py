"""Runs code in a live Jupyter server through the kernels REST API and the kernel websocket protocol."""

from __future__ import annotations

import json
import uuid

import requests
import websocket


def run_code(server_url: str, token: str, code: str, timeout: float = 60.0) -> str:
    """Starts a kernel on ``server_url`` (a /user/<name>/<server>/ URL), runs ``code``, returns its stdout."""
    headers = {"Authorization": f"token {token}"}
    kernel = requests.post(f"{server_url}api/kernels", headers=headers, json={"name": "python3"}, timeout=30)
    kernel.raise_for_status()
    kid = kernel.json()["id"]
    ws_url = server_url.replace("http://", "ws://") + f"api/kernels/{kid}/channels"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "test",
                        "session": msg_id,
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        out: list[str] = []
        while True:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                raise AssertionError("kernel error: " + "\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()
        requests.delete(f"{server_url}api/kernels/{kid}", headers=headers, timeout=30)
