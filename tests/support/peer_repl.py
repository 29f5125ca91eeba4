"""Runs inside an upstream release's venv: executes test snippets sent on stdin, one per line.

Each request is one JSON line ``{"code": ..., "variables": {...}}``; the reply is one JSON line
``{"result": ...}`` or ``{"error": traceback}``. Upstream's packages take seconds to import, so
one long-lived process per release serves every test. It imports nothing of openenv-gym.
"""

import contextlib
import json
import sys
import traceback


def main() -> None:
    replies = sys.stdout
    sys.stdout = sys.stderr  # what a snippet prints must not mix with the replies
    for line in sys.stdin:
        request = json.loads(line)
        namespace = dict(request["variables"])
        try:
            exec(compile(request["code"], "<peer snippet>", "exec"), namespace)
            reply = {"result": namespace.get("result")}
        except BaseException:  # the test shows upstream's traceback; the peer serves the next one
            reply = {"error": traceback.format_exc()}
        with contextlib.suppress(TypeError, ValueError):
            replies.write(json.dumps(reply, default=repr) + "\n")
            replies.flush()
            continue
        replies.write(json.dumps({"error": "the result is not JSON: " + repr(reply)[:2000]}) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
