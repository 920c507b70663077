"""Schemathesis hooks for scripts/contract: sign generated webhook deliveries,
and keep the templated product path off the literal `/v1/products/bulk`.

Test-only: loaded by `scripts/contract` through SCHEMATHESIS_HOOKS, never part
of a build. Schemathesis cannot sign Standard Webhooks, so without this every
webhook case would stop at the signature check (401) and its body would never
be judged. Here a case whose headers were generated as schema-valid gets:

- `webhook-timestamp` set to now (a generated one is almost always stale),
- `webhook-signature` set to `v1,<base64 HMAC-SHA256 of id.timestamp.body>`
  with the dev secret of scripts/dev, computed over the exact body bytes
  `requests` is about to send (a requests auth callable runs after the body
  is serialized),

so the component reads the body and must answer as the document says. A
header the case left out (missing_required_header, ignored_auth) stays out,
and a case whose headers were generated schema-invalid is sent as generated:
both must be refused. The signer is the `standardwebhooks` package, the
reference implementation.

`/v1/products/bulk` is a literal path beside `/v1/products/{sku}`; OpenAPI
3.1 (Paths Object) matches "concrete (non-templated) paths ... before their
templated counterparts", so a `{sku}` case whose SKU is `bulk` is a request
to the other path (where POST is the bulk upsert, and GET and PUT are
documented for the SKU `bulk`). Schemathesis does not apply that rule, so
such a case gets another SKU before it is sent.

A request may name a product once (`POST /v1/products/bulk`, the products
webhook: SKUs compared without case, as Magento's `sku` column compares
them), and a repeat is a 400 naming its index. JSON Schema cannot say
"unique by one property", so a generated list that repeats a SKU gets the
repeat renamed before it is sent (`_distinct_skus`); everything else about
the body stays as generated.

A new product needs a `name` and a `price` (Magento's `ProductRepository::save`
validates the required attributes of a product it creates: "The \"%1\"
attribute value is empty"), an update needs neither. JSON Schema cannot say
"required when the SKU is new", so a schema-valid `PUT /v1/products/{sku}` or
`/v1/products/bulk` body that leaves either out or empty gets one
(`_creatable`) before it is sent: the document allows it, and the edge's
answer to ACCS's refusal (400 `accs_error`) is tested in the component tests.
"""

import base64
import hashlib
import hmac
import os
import time
from datetime import datetime, timezone

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from standardwebhooks.webhooks import Webhook

SECRET = os.environ.get("CONTRACT_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
WEBHOOK = Webhook(SECRET)


def _headers_negative(case) -> bool:
    meta = getattr(case, "meta", None)
    if meta is None:
        return False
    info = meta.components.get(ParameterLocation.HEADER)
    return info is not None and info.mode.is_negative


class _Sign:
    """A requests auth callable: it sees the prepared request, body included."""

    def __call__(self, request):
        names = {k.lower(): k for k in request.headers.keys()}
        if "webhook-signature" not in names or "webhook-timestamp" not in names:
            return request
        msg_id = request.headers.get(names.get("webhook-id", "webhook-id"))
        if msg_id is None:
            return request
        now = int(time.time())
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        key = base64.b64decode(SECRET.removeprefix("whsec_"))
        mac = hmac.new(key, f"{msg_id}.{now}.".encode() + body, hashlib.sha256).digest()
        sig = "v1," + base64.b64encode(mac).decode()
        try:
            # The reference signer agrees wherever it can take the body (text).
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            ref = WEBHOOK.sign(msg_id, datetime.fromtimestamp(now, tz=timezone.utc), text)
            assert ref == sig, "the reference signer disagrees"
        request.headers[names["webhook-timestamp"]] = str(now)
        request.headers[names["webhook-signature"]] = sig
        return request


def _distinct_skus(body) -> None:
    """Renames each repeated `sku` (compared without case) of a `products` list."""
    products = body.get("products") if isinstance(body, dict) else None
    if not isinstance(products, list):
        return
    seen = set()
    for i, p in enumerate(products):
        if not isinstance(p, dict) or not isinstance(p.get("sku"), str):
            continue
        sku = p["sku"]
        n = 0
        while sku.lower() in seen:
            n += 1
            sku = f"{p['sku'][:48]}-dup{i}-{n}"
        p["sku"] = sku
        seen.add(sku.lower())


def _body_negative(case) -> bool:
    meta = getattr(case, "meta", None)
    if meta is None:
        return False
    info = meta.components.get(ParameterLocation.BODY)
    return info is not None and info.mode.is_negative


def _creatable(body) -> None:
    """Gives a `{"product": {...}}` body a `name` and a `price` where it has none."""
    product = body.get("product") if isinstance(body, dict) else None
    if not isinstance(product, dict):
        return
    for field, value in (("name", "Contract product"), ("price", 1)):
        given = product.get(field)
        # What Magento's input processor reads as empty: nothing, "", false.
        if given is None or given is False or given == "":
            product[field] = value


@schemathesis.hook
def before_call(context, case, kwargs):
    if (
        case.method.upper() == "PUT"
        and case.operation.path in ("/v1/products/{sku}", "/v1/products/bulk")
        and not _body_negative(case)
    ):
        _creatable(case.body)
    if case.operation.path == "/v1/products/{sku}" and (case.path_parameters or {}).get("sku") == "bulk":
        case.path_parameters["sku"] = "bulk-sku"
    if case.operation.path == "/v1/products/bulk" or case.operation.path.startswith("/v1/webhooks/"):
        _distinct_skus(case.body)
    if not case.operation.path.startswith("/v1/webhooks/"):
        return
    if _headers_negative(case):
        return
    kwargs["auth"] = _Sign()
