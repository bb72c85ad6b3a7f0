"""One replica for the multi-process tests: a guarded client built from this process's environment.

``python -m tests.integration.replica_worker burst SECONDS`` prints ``ready``, waits for a line on
stdin (so every replica starts together), calls as fast as it can for SECONDS and prints its counts
as JSON. ``… stream`` prints ``streaming`` at the first text of a slow stream and keeps reading until
it is killed. The API key is an obvious fake; calls go to ANTHROPIC_BASE_URL (the test's simulator).
"""

from __future__ import annotations

import json
import os
import sys
import time

from core.config import load_settings
from core.errors import RateLimited
from core.factory import build_client
from core.upstream.keys import ApiKey

FAKE_KEY = ApiKey("primary", "sk-ant-test-fake-replica-0000")


def main(argv: list[str]) -> None:
    settings = load_settings(env=dict(os.environ), load_keys=False, keys=(FAKE_KEY,))
    client = build_client(settings, use_ledger=False)
    print("ready", flush=True)
    sys.stdin.readline()
    if argv[0] == "burst":
        end, sent, refused = time.monotonic() + float(argv[1]), 0, 0
        while time.monotonic() < end:
            try:
                client.create("ping", user="ana", model="claude-haiku-5-5", max_tokens=5)
                sent += 1
            except RateLimited:
                refused += 1
                time.sleep(0.005)  # "as fast as it can" without spinning a core on refusals
        print(json.dumps({"sent": sent, "refused": refused}), flush=True)
    else:
        for i, _text in enumerate(client.stream("tell a long story", user="ana", model="claude-haiku-5-5",
                                                max_tokens=80)):
            if i == 0:
                print("streaming", flush=True)
        print("ended", flush=True)  # the test kills this replica long before
    client.close()


if __name__ == "__main__":
    main(sys.argv[1:])
