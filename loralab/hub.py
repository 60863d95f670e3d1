"""Whether the Hugging Face hub can answer, decided in seconds instead of a minute of retries.

On a machine without network, `from_pretrained` and `load_dataset` retry each request for about a
minute before failing. A hub id is only worth trying when the hub's host resolves and accepts a
connection, or when the user has asked for the local cache (`HF_HUB_OFFLINE=1`).
"""

from __future__ import annotations

import os
import socket
import threading

HUB_HOST = "huggingface.co"
PROBE_SECONDS = 3.0
_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def offline_requested() -> bool:
    """True where the environment asks the HF libraries to use their local cache only."""
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on") for k in _OFFLINE_ENV)


def hub_reachable(timeout: float = PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the hub opens within `timeout` seconds (DNS included)."""
    endpoint = os.environ.get("HF_ENDPOINT", f"https://{HUB_HOST}")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo has no timeout of its own
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def hub_usable() -> bool:
    """Try the hub (or its cache) only when the user asked for the cache or the hub answers."""
    return offline_requested() or hub_reachable()
