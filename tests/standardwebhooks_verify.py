"""Verifies deliveries with `standardwebhooks`, the Standard Webhooks
reference library, for tests that check what a forward target received.

Reads {"cases": [{"secret": "whsec_...", "headers": {...}, "body_b64": "..."}]}
on stdin; prints a JSON list, one verdict per case: true when the library's
`Webhook.verify` accepts the case, else the error's text.
"""

import base64
import json
import sys

from standardwebhooks.webhooks import Webhook


def main() -> None:
    cases = json.load(sys.stdin)["cases"]
    verdicts = []
    for case in cases:
        try:
            Webhook(case["secret"]).verify(base64.b64decode(case["body_b64"]), case["headers"])
            verdicts.append(True)
        except Exception as e:  # the library's verdict, reported per case
            verdicts.append(f"{type(e).__name__}: {e}")
    print(json.dumps(verdicts))


if __name__ == "__main__":
    main()
