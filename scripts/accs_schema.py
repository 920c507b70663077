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
typed by Adobe's own definition. Next to them, `accs-out-*`: what ACCS
answers the component's reads (the success of each path in ANSWERED, and its
`error-response`, which problems carry under `upstream`), the same
definitions as ACCS writes them out, which the component passes through.

Where Magento's source shows the schema is wrong, these say what Magento
does (crates/accs-sim/src/contract/judge.rs holds the simulator to the same):
- `custom_attributes` values are PHP `mixed` (`AttributeInterface::getValue`)
  that Magento's schema generator writes as `string`: here they are any value;
- in an answer, a `required` property may be `null`: the generator calls a
  property required when its getter is not declared nullable, and
  `Magento\Framework\Reflection\DataObjectProcessor::buildOutputDataArray`
  writes a required getter's `null` as `null` (it skips only the others);
  `error-*` are not data objects (`Magento\Framework\Webapi\ErrorProcessor`
  writes them), so this is not for them;
- `error-parameters` is the fixed text of `Magento\Webapi\Model\Rest\
  Swagger\Generator::getDefinitions` ("Todo: create interface for error
  response"), while `ErrorProcessor::maskException` passes the exception's
  Phrase arguments through: an object for `%name` placeholders
  (`{"resources": "Magento_Catalog::products"}`), a list for `%1`; their
  values are PHP scalars (`lib/internal/Magento/Framework/Exception/
  NoSuchEntityException.php`: `singleField` puts its `string|int
  $fieldValue`), so any JSON scalar here (the simulator writes strings only).

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
OPENAPI_OUT_PREFIX = "accs-out-"
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
# The ACCS operations whose answers the component passes through (its reads
# of products and orders, and the product upsert): their 200 and error
# definitions become `accs-out-*` schemas of docs/openapi.yaml.
ANSWERED = [
    ("/V1/products", "get"),
    ("/V1/products/{sku}", "get"),
    ("/V1/products/{sku}", "put"),
    ("/V1/orders", "get"),
    ("/V1/orders/{id}", "get"),
]
# ErrorProcessor's own shapes, not data objects (see the docstring).
ERROR_PREFIX = "error-"
# Magento's Phrase arguments: strings, numbers, booleans, null.
SCALAR = {"type": ["string", "number", "boolean", "null"]}
ERROR_PARAMETERS = {
    "anyOf": [
        {"type": "array", "items": {"anyOf": [SCALAR, {"$ref": "#/components/schemas/" + OPENAPI_OUT_PREFIX + "error-parameters-item"}]}},
        {"type": "object", "additionalProperties": SCALAR},
    ]
}


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


def openapi_schema(value, prefix):
    ref = value.get("$ref", "")
    if ref.startswith("#/definitions/"):
        return {"$ref": "#/components/schemas/" + prefix + ref[len("#/definitions/"):]}
    if value.get("type") == "array":
        return {"type": "array", "items": openapi_schema(value.get("items", {}), prefix)}
    return {"type": value["type"]}


# What Magento's input processor reads for each Swagger type of a request
# (src/accs/product_schema.rs says why, citing `TypeProcessor::setType`,
# `processSimpleAndAnyType` and `ServiceInputProcessor::convertValue`):
# `null` is not given; int/float take a number or a string PHP's
# `is_numeric` takes; bool and string any scalar; a data object is also read
# from a scalar or `[]` (an empty object); a list may be a JSON object (a
# PHP array), its values the items; a list of data objects given a scalar
# is read as null. (The edge's bounds on a body's lists and size, 400s, and
# its body caps, 413s, are not written here: ROUTES.md states them.)
SCALAR_IN = {"type": ["string", "number", "boolean", "null"]}
IS_NUMERIC = r"^[ \t\n\r\x0b\x0c]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\n\r\x0b\x0c]*$"
SIMPLE_IN = {
    "integer": {"anyOf": [{"type": ["number", "null"]}, {"type": "string", "pattern": IS_NUMERIC}]},
    "number": {"anyOf": [{"type": ["number", "null"]}, {"type": "string", "pattern": IS_NUMERIC}]},
    "boolean": SCALAR_IN,
    "string": SCALAR_IN,
}
CUSTOM_ATTRIBUTES = ("catalog-data-product-interface", "custom_attributes")
# `ServiceInputProcessor::processCustomAttribute`: an item needs a truthy
# `attribute_code` and a `value` key (`array_key_exists`; it may be null).
CUSTOM_ITEM = "framework-attribute-interface"
TRUTHY = {"anyOf": [{"type": "string", "minLength": 1, "not": {"const": "0"}}, {"type": "number", "not": {"const": 0}}, {"const": True}]}


def list_in(item, scalar):
    """A list of `item` as Magento reads it: a list or an object of items,
    or `scalar` (what else it takes there)."""
    return {
        "anyOf": [
            {"type": "array", "items": item},
            {"type": "object", "additionalProperties": item},
            scalar,
        ]
    }


def input_schema(value, prefix, custom=False):
    """A request property's schema, widened as Magento's reading is."""
    ref = value.get("$ref", "")
    if ref.startswith("#/definitions/"):
        target = {"$ref": "#/components/schemas/" + prefix + ref[len("#/definitions/"):]}
        if custom:
            return target
        return {"anyOf": [target, SCALAR_IN, {"type": "array", "maxItems": 0}]}
    if value.get("type") == "array":
        items = value.get("items", {})
        item = input_schema(items, prefix, custom)
        if custom:
            return list_in(item, {"type": "null"})
        if "$ref" in items:
            return list_in(item, SCALAR_IN)
        if items.get("type") == "string":
            return list_in(SCALAR_IN, {"type": "null"})
        return list_in({}, {"type": "null"})
    return SIMPLE_IN[value["type"]]


def nullable(schema):
    """`schema` that also takes `null`."""
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [{"type": "null"}, schema]}


def openapi_definition(definition, name, prefix, answer):
    if definition.get("type") != "object":
        return openapi_schema(definition, prefix)
    required = set(definition.get("required", [])) if answer and not name.startswith(ERROR_PREFIX) else set()
    props = {}
    for k, v in definition.get("properties", {}).items():
        if (name, k) == MIXED:
            schema = {}
        elif not answer:
            schema = input_schema(v, prefix, custom=(name, k) == CUSTOM_ATTRIBUTES)
        else:
            schema = openapi_schema(v, prefix)
        props[k] = nullable(schema) if k in required and schema else schema
    out = {"type": "object", "additionalProperties": False, "properties": props}
    if name == CUSTOM_ITEM and not answer:
        props["attribute_code"] = TRUTHY
        out["required"] = ["attribute_code", "value"]
    return out


def answer_names(doc):
    """The definitions the answers of ANSWERED reach: each success and
    `error-response`, and what they reach."""
    names = set()
    for path, method in ANSWERED:
        reached(doc, doc["paths"][path][method]["responses"], names)
    return sorted(names)


def openapi_components(doc):
    out = {}
    defs = doc["definitions"]
    for n in product_names(doc):
        out[OPENAPI_PREFIX + n] = openapi_definition(defs[n], n, OPENAPI_PREFIX, answer=False)
    for n in answer_names(doc):
        out[OPENAPI_OUT_PREFIX + n] = openapi_definition(defs[n], n, OPENAPI_OUT_PREFIX, answer=True)
    out[OPENAPI_OUT_PREFIX + "error-parameters"] = ERROR_PARAMETERS
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
