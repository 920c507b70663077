#!/usr/bin/env python3
"""Adobe's ACCS REST schema, cut down to what the simulator models.

tests/reference/accs-schema.yaml is Adobe's file copied unchanged (its sha256
is pinned below and in tests/reference/README.md). Rust has no YAML parser in
this workspace, so this script writes tests/reference/accs-schema.json once:
the header fields, the path items of MODELLED (every method of each), and the
definitions they reach through `$ref`, each value exactly as the YAML holds it.
It also writes src/accs/product_schema.json, the component's compact view of
`catalog-data-product-interface` and what it reaches: per definition, each
property's type as one code (`i` integer, `n` number, `b` boolean, `s`
string, `o` object, `m` any value, `@name` a definition, `[x` a list of x).
And it keeps the `accs-*` schemas of docs/openapi.yaml's components: the
same definitions as OpenAPI schemas, objects closed, nothing required
(Magento's `required` marks non-nullable getters, not input it needs),
without descriptions, so that the product bodies the component takes are
typed by Adobe's own definition.

`custom_attributes` values are PHP `mixed` (`AttributeInterface::getValue`)
that Magento's schema generator writes as `string`: here they are any value.

    python3 scripts/accs_schema.py          # write the JSON
    python3 scripts/accs_schema.py --check  # exit 1 unless the YAML has its sum
                                            # and the JSON is what it yields

Add a path here when the simulator models one more ACCS endpoint.
"""

import hashlib
import json
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
YAML_PATH = ROOT / "tests/reference/accs-schema.yaml"
JSON_PATH = ROOT / "tests/reference/accs-schema.json"
PRODUCT_PATH = ROOT / "src/accs/product_schema.json"
PRODUCT_ROOT = "catalog-data-product-interface"
OPENAPI_PATH = ROOT / "docs/openapi.yaml"
OPENAPI_PREFIX = "accs-"
MIXED = ("framework-attribute-interface", "value")
YAML_SHA256 = "53013091926f06d9b5be7f8c45862ab0389883237c2135bcf166d470e973bb97"

MODELLED = [
    "/V1/products",
    "/V1/products/{sku}",
    "/V1/inventory/source-items",
    "/V1/orders",
    "/V1/orders/{id}",
    "/V1/categories",
    "/V1/categories/{categoryId}",
    # The bulk status endpoints (the async bulk route itself is generated at
    # runtime by WebapiAsync and is not in Adobe's schema).
    "/V1/bulk/{bulkUuid}/detailed-status",
    "/V1/bulk/{bulkUuid}/status",
    "/V1/bulk/{bulkUuid}/operation-status/{status}",
]
HEADER = ["swagger", "info", "host", "basePath", "schemes"]


def reached(doc, value, seen):
    """Adds to `seen` every definition `value` reaches, transitively."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        prefix = "#/definitions/"
        if isinstance(ref, str) and ref.startswith(prefix):
            name = ref[len(prefix):]
            if name not in seen:
                seen.add(name)
                reached(doc, doc["definitions"][name], seen)
        for v in value.values():
            reached(doc, v, seen)
    elif isinstance(value, list):
        for v in value:
            reached(doc, v, seen)


def render(raw):
    doc = yaml.safe_load(raw)
    paths = {p: doc["paths"][p] for p in MODELLED}
    seen = set()
    reached(doc, paths, seen)
    out = {k: doc[k] for k in HEADER}
    out["paths"] = paths
    out["definitions"] = {n: doc["definitions"][n] for n in sorted(seen)}
    return json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def type_code(value):
    ref = value.get("$ref", "")
    if ref.startswith("#/definitions/"):
        return "@" + ref[len("#/definitions/"):]
    if value.get("type") == "array":
        return "[" + type_code(value.get("items", {}))
    return {"integer": "i", "number": "n", "boolean": "b", "string": "s", "object": "o"}[value["type"]]


def product_names(doc):
    names = {PRODUCT_ROOT}
    reached(doc, doc["definitions"][PRODUCT_ROOT], names)
    return sorted(names)


def render_product(raw):
    doc = yaml.safe_load(raw)
    types = {
        n: {
            k: "m" if (n, k) == MIXED else type_code(v)
            for k, v in doc["definitions"][n].get("properties", {}).items()
        }
        for n in product_names(doc)
    }
    return json.dumps({"root": PRODUCT_ROOT, "types": types}, sort_keys=True, separators=(",", ":")) + "\n"


def openapi_schema(value):
    ref = value.get("$ref", "")
    if ref.startswith("#/definitions/"):
        return {"$ref": "#/components/schemas/" + OPENAPI_PREFIX + ref[len("#/definitions/"):]}
    if value.get("type") == "array":
        return {"type": "array", "items": openapi_schema(value.get("items", {}))}
    return {"type": value["type"]}


def openapi_components(doc):
    out = {}
    for n in product_names(doc):
        props = {
            k: {} if (n, k) == MIXED else openapi_schema(v)
            for k, v in doc["definitions"][n].get("properties", {}).items()
        }
        out[OPENAPI_PREFIX + n] = {"type": "object", "additionalProperties": False, "properties": props}
    return out


def render_openapi(raw):
    """docs/openapi.yaml (YAML's JSON form, as json.dumps(indent=2) writes
    it) with its `accs-*` component schemas replaced by the generated ones."""
    api = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    schemas = api["components"]["schemas"]
    for name in [n for n in schemas if n.startswith(OPENAPI_PREFIX)]:
        del schemas[name]
    schemas.update(openapi_components(yaml.safe_load(raw)))
    return json.dumps(api, indent=2) + "\n"


def main():
    raw = YAML_PATH.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != YAML_SHA256:
        sys.exit(f"{YAML_PATH.name}: sha256 {digest}, expected {YAML_SHA256}")
    outputs = [
        (JSON_PATH, render(raw)),
        (PRODUCT_PATH, render_product(raw)),
        (OPENAPI_PATH, render_openapi(raw)),
    ]
    if sys.argv[1:] == ["--check"]:
        for path, text in outputs[:2]:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                sys.exit(f"{path.name} is not what {YAML_PATH.name} yields: run scripts/accs_schema.py")
            print(f"{path.name} matches {YAML_PATH.name}")
        # Only the generated schemas of docs/openapi.yaml are compared, so a
        # hand edit elsewhere in it need not follow json.dumps' layout.
        ours = lambda api: {n: v for n, v in api["components"]["schemas"].items() if n.startswith(OPENAPI_PREFIX)}
        have = ours(json.loads(OPENAPI_PATH.read_text(encoding="utf-8")))
        if have != ours(json.loads(outputs[2][1])):
            sys.exit(f"the {OPENAPI_PREFIX}* schemas of {OPENAPI_PATH.name} are not what {YAML_PATH.name} yields: run scripts/accs_schema.py")
        print(f"the {OPENAPI_PREFIX}* schemas of {OPENAPI_PATH.name} match {YAML_PATH.name}")
    elif sys.argv[1:]:
        sys.exit(__doc__)
    else:
        for path, text in outputs:
            path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
