#!/usr/bin/env python3
"""The manifest check behind scripts/check-manifests (run it through that script,
which provides the pinned virtualenv).

Every YAML document under examples/spinkube/ is checked three ways:

1. SpinApp and SpinAppExecutor against the openAPIV3Schema of spin-operator's
   CRDs (tests/reference/), strictly: where a schema object lists `properties`
   and neither `additionalProperties` nor `x-kubernetes-preserve-unknown-fields`,
   an unknown field is an error (kubectl's default `--validate=strict` makes
   the API server refuse such fields); `metadata` against Kubernetes' ObjectMeta.
2. Every other object (Namespace, Secret, ...) against the strict Kubernetes
   schemas that kubernetes-validate ships, for KUBERNETES_VERSION.
3. The rules the operator enforces beyond the CRDs, and the references between
   objects that only fail once applied:
   - a SpinApp's `spec.executor` is a SpinAppExecutor created in the SpinApp's
     own namespace by the same folder, before the SpinApp in `kubectl apply -f`
     order (spin-operator v0.6.1 internal/webhook/spinapp_validating.go,
     `fetchExecutor`; internal/controller/spinapp_controller.go);
   - replicas > 0 unless autoscaling, and no replicas with autoscaling
     (`validateReplicas`); an executor's deploymentConfig names exactly one of
     runtimeClassName and spinImage (spinappexecutor_validating.go);
   - every namespaced object names its namespace, and that Namespace is created
     first by the folder (or is `default`);
   - every Secret / ConfigMap key a SpinApp reads exists in the folder, in the
     SpinApp's namespace (the operator fails on a missing runtime-config Secret,
     internal/runtimeconfig/runtime_config.go; a missing key renders an empty
     value); `loadFromSecret` is not combined with fields it makes the operator
     ignore;
   - every variable a SpinApp sets is declared in spin.toml's [variables], and
     every variable spin.toml requires is set;
   - a CronJob (the job routes on a schedule, docs/DEPLOY.md) forbids
     concurrent runs (`concurrencyPolicy: Forbid`), has a
     `startingDeadlineSeconds`, takes every environment variable that looks
     like a credential (KEY, TOKEN, SECRET in its name) from a Secret of the
     folder that has that key, and calls `/v1/jobs/` on the Service of a
     SpinApp of its own namespace (the operator names the Service after the
     SpinApp), never with `?key=` (in a cluster the key goes in a header).

`--self-test` plants one known defect at a time into a copy of the examples and
asserts that the check fails on each with the expected message.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    sys.exit("check-manifests: needs Python 3.11 or newer (tomllib)")

import jsonschema
import referencing
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = "examples/spinkube"
REFERENCE = ROOT / "tests" / "reference"
# The vendored CRDs and their sums (tests/reference/README.md).
CRDS = {
    "spinapps.crd.v0.6.1.yaml": "08051de70925efe25bafca636c9b9410a4fe61e17015bd199be1efa04a5b5762",
    "spinappexecutors.crd.yaml": "c290585b469a6076eeab764af63be1aac11d584c903b5f72a45a1df807634107",
}
# A recent Kubernetes release among those kubernetes-validate 1.37.0 ships
# strict schemas for (1.25 to 1.37). Namespace and Secret have had the same
# shape for many releases.
KUBERNETES_VERSION = "1.35"
SPIN_GROUP = "core.spinkube.dev"
CLUSTER_SCOPED = {
    "Namespace",
    "RuntimeClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
}
OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
SPIN_VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# ---------------------------------------------------------------- YAML


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (the API
    server's strict decoding refuses it too; PyYAML would keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (lines {seen[key]} and {line})", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep)


class Doc:
    def __init__(self, file: str, line: int, index: int, data):
        self.file, self.line, self.index, self.data = file, line, index, data

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", ""))

    @property
    def meta(self) -> dict:
        m = self.data.get("metadata")
        return m if isinstance(m, dict) else {}

    @property
    def name(self) -> str:
        return str(self.meta.get("name", ""))

    @property
    def namespace(self):
        ns = self.meta.get("namespace")
        return ns if isinstance(ns, str) and ns else None

    @property
    def spec(self) -> dict:
        s = self.data.get("spec")
        return s if isinstance(s, dict) else {}

    def label(self) -> str:
        kind = self.kind or "object"
        if not self.name:
            return f"{kind} (document {self.index + 1}, line {self.line})"
        if self.kind in CLUSTER_SCOPED:
            return f"{kind} {self.name}"
        if self.namespace is None:
            return f"{kind} {self.name} (no namespace)"
        return f"{kind} {self.namespace}/{self.name}"


def load(folder: pathlib.Path, shown: str, problems: list[str]) -> list[Doc]:
    """Every document of every YAML file under `folder`, in the order
    `kubectl apply -f` submits them (files in lexical path order, documents in
    file order)."""
    docs = []
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
    if not files:
        problems.append(f"{shown}: no YAML files")
    for path in files:
        file = f"{shown}/{path.relative_to(folder).as_posix()}"
        loader = StrictLoader(path.read_text(encoding="utf-8"))
        index = 0
        try:
            while loader.check_node():
                node = loader.get_node()
                line = node.start_mark.line + 1
                data = loader.construct_document(node)
                if data is None:
                    continue
                if not isinstance(data, dict):
                    problems.append(f"{file}: document {index + 1} (line {line}): not a mapping")
                else:
                    docs.append(Doc(file, line, index, data))
                index += 1
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            problems.append(f"{file}: {where}YAML error: {getattr(e, 'problem', None) or e}")
        finally:
            loader.dispose()
    return docs


# ---------------------------------------------------------------- schemas


def strict_crd_schema(node):
    """An openAPIV3Schema (structural, as a CRD holds it) as a JSON Schema that
    refuses unknown fields where the schema lists its properties."""
    if isinstance(node, list):
        return [strict_crd_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "$defs", "definitions"):
            out[key] = {k: strict_crd_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict_crd_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict_crd_schema(v) for v in value]
        elif key == "description":
            continue
        else:
            out[key] = value
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("nullable") and isinstance(node.get("type"), str):
        out["type"] = [node["type"], "null"]
    return out


class Schemas:
    def __init__(self):
        base = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
        self.k8s_dir = base / f"v{KUBERNETES_VERSION}.0-local-strict"
        if not self.k8s_dir.is_dir():
            sys.exit(f"check-manifests: kubernetes-validate has no strict schemas for Kubernetes {KUBERNETES_VERSION}")
        definitions = json.loads((self.k8s_dir / "_definitions.json").read_text())
        self.registry = referencing.Registry().with_resource(
            definitions["$id"], referencing.Resource.from_contents(definitions)
        )
        self.crd = {}  # (apiVersion, kind) -> validator
        for name, sha in CRDS.items():
            path = REFERENCE / name
            got = hashlib.sha256(path.read_bytes()).hexdigest()
            if got != sha:
                sys.exit(f"check-manifests: tests/reference/{name} has sha256 {got}, not the {sha} of tests/reference/README.md")
            crd = yaml.safe_load(path.read_text())
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = strict_crd_schema(version["schema"]["openAPIV3Schema"])
                schema["properties"]["metadata"] = {"$ref": OBJECT_META}
                schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
                self.crd[(f"{group}/{version['name']}", kind)] = jsonschema.Draft202012Validator(
                    schema, registry=self.registry
                )
        self.core = {}

    def core_validator(self, api_version: str, kind: str):
        key = (api_version, kind)
        if key not in self.core:
            # The file naming of kubernetes-validate: rbac.authorization.k8s.io/v1 -> rbac-v1.
            group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
            path = self.k8s_dir / f"{kind.lower()}-{group_version}.json"
            if not path.is_file():
                self.core[key] = None
            else:
                schema = json.loads(path.read_text())
                self.core[key] = jsonschema.Draft202012Validator(schema, registry=self.registry)
        return self.core[key]


def dotted(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def describe(error: jsonschema.ValidationError) -> list[str]:
    """One line per problem in a schema error (the deepest ones for anyOf)."""
    path = dotted(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extra = [k for k in error.instance if k not in known and not any(re.search(p, k) for p in patterns)]
        return [f"{join(path, k)}: unknown field" for k in extra]
    if error.validator == "required" and isinstance(error.instance, dict):
        return [f"{join(path, r)}: required field is missing" for r in error.validator_value if r not in error.instance]
    if error.context:
        return [line for sub in error.context for line in describe(sub)][:3]
    return [f"{path or '(top level)'}: {error.message}"]


def schema_problems(doc: Doc, schemas: Schemas) -> list[str]:
    if not doc.api_version or not doc.kind:
        return ["apiVersion and kind are required"]
    if doc.api_version.split("/")[0] == SPIN_GROUP:
        validator = schemas.crd.get((doc.api_version, doc.kind))
        if validator is None:
            known = ", ".join(f"{k} {v}" for v, k in sorted(schemas.crd))
            return [f"no vendored CRD for {doc.kind} {doc.api_version} (known: {known})"]
    else:
        validator = schemas.core_validator(doc.api_version, doc.kind)
        if validator is None:
            return [f"no Kubernetes {KUBERNETES_VERSION} schema for {doc.kind} {doc.api_version}"]
    lines = []
    for error in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
        for line in describe(error):
            if line not in lines:
                lines.append(line)
    return lines


# ---------------------------------------------------------------- rules


def spin_variables(manifest: pathlib.Path):
    """spin.toml's [variables]: name -> required."""
    table = tomllib.loads(manifest.read_text()).get("variables", {})
    return {name: bool(v.get("required")) and "default" not in v for name, v in table.items()}


def secret_keys(doc: Doc) -> set[str]:
    keys = set()
    for field in ("data", "stringData"):
        if isinstance(doc.data.get(field), dict):
            keys |= set(doc.data[field])
    return keys


def rule_problems(docs: list[Doc], manifest: pathlib.Path) -> list[tuple[Doc, str]]:
    out = []
    order = {id(d): i for i, d in enumerate(docs)}
    namespaces = {d.name: d for d in docs if d.kind == "Namespace" and d.api_version == "v1"}
    executors = [d for d in docs if d.kind == "SpinAppExecutor" and d.api_version.startswith(SPIN_GROUP + "/")]
    stores = {}  # (kind, namespace, name) -> doc
    for d in docs:
        if d.kind in ("Secret", "ConfigMap") and d.api_version == "v1" and d.namespace:
            stores[(d.kind, d.namespace, d.name)] = d

    for d in docs:
        if d.kind in CLUSTER_SCOPED or not d.kind:
            continue
        if d.namespace is None:
            out.append((d, "has no metadata.namespace: kubectl would put it in the namespace of its context"))
        elif d.namespace != "default":
            ns = namespaces.get(d.namespace)
            if ns is None:
                out.append((d, f"namespace {d.namespace} is not created by this folder (no Namespace {d.namespace})"))
            elif order[id(ns)] > order[id(d)]:
                out.append((d, f"comes before Namespace {d.namespace} ({ns.file}) in `kubectl apply -f` order"))

    for e in executors:
        config = e.spec.get("deploymentConfig")
        if isinstance(config, dict) and ("runtimeClassName" in config) == ("spinImage" in config):
            out.append((e, "spec.deploymentConfig needs exactly one of runtimeClassName and spinImage (spin-operator's executor webhook)"))

    try:
        declared = spin_variables(manifest)
    except (OSError, tomllib.TOMLDecodeError) as err:
        declared = None
        out.append((docs[0] if docs else None, f"cannot read {manifest.name}'s [variables]: {err}"))

    for app in (d for d in docs if d.kind == "SpinApp" and d.api_version.startswith(SPIN_GROUP + "/")):
        spec, ns = app.spec, app.namespace
        # The executor, in the SpinApp's namespace, before it.
        name = spec.get("executor")
        if not name:
            out.append((app, "spec.executor is not set: the operator's default picks the first executor of any namespace, which its own webhook then refuses unless it is in this one"))
        else:
            same = [e for e in executors if e.name == name and e.namespace == ns]
            if not same:
                elsewhere = sorted({f"namespace {e.namespace}" if e.namespace else "no namespace"
                                    for e in executors if e.name == name})
                hint = f" (this folder creates it with {', '.join(elsewhere)})" if elsewhere else ""
                out.append((app, f"executor {name} is not created in namespace {ns}{hint}; spin-operator looks it up only in the SpinApp's namespace"))
            elif order[id(same[0])] > order[id(app)]:
                out.append((app, f"comes before its executor {name} ({same[0].file}) in `kubectl apply -f` order: the operator's webhook would refuse it"))
        # Replicas (validateReplicas).
        autoscaling = spec.get("enableAutoscaling") is True
        replicas = spec.get("replicas", 0)
        if isinstance(replicas, int):
            if autoscaling and replicas != 0:
                out.append((app, "spec.replicas cannot be set when spec.enableAutoscaling is true"))
            if not autoscaling and replicas < 1:
                out.append((app, "spec.replicas must be > 0 (or set spec.enableAutoscaling)"))
        # Runtime config.
        rc = spec.get("runtimeConfig") if isinstance(spec.get("runtimeConfig"), dict) else {}
        refs = []  # (where, kind, name, key, optional)
        if rc.get("loadFromSecret"):
            ignored = [k for k in ("keyValueStores", "sqliteDatabases", "llmCompute") if rc.get(k)]
            if ignored:
                out.append((app, f"spec.runtimeConfig.loadFromSecret makes the operator ignore spec.runtimeConfig.{', '.join(ignored)}"))
            refs.append(("spec.runtimeConfig.loadFromSecret", "Secret", rc["loadFromSecret"], "runtime-config.toml", False))
        sections = [(f"spec.runtimeConfig.{k}[{i}]", s) for k in ("keyValueStores", "sqliteDatabases")
                    for i, s in enumerate(rc.get(k) or []) if isinstance(s, dict)]
        if isinstance(rc.get("llmCompute"), dict):
            sections.append(("spec.runtimeConfig.llmCompute", rc["llmCompute"]))
        for where, section in sections:
            for j, opt in enumerate(section.get("options") or []):
                if isinstance(opt, dict):
                    refs += value_from_refs(f"{where}.options[{j}]", opt.get("valueFrom"))
        # Variables.
        seen = set()
        for i, var in enumerate(spec.get("variables") or []):
            if not isinstance(var, dict):
                continue
            vname = var.get("name", "")
            where = f"spec.variables[{i}] ({vname})"
            if not SPIN_VARIABLE_NAME.match(str(vname)):
                out.append((app, f"{where}: not a Spin variable name (lowercase letters, digits, _)"))
            if vname in seen:
                out.append((app, f"{where}: set twice"))
            seen.add(vname)
            if declared is not None and vname not in declared:
                out.append((app, f"{where}: not declared in {manifest.name} [variables], so Spin never reads it"))
            refs += value_from_refs(where, var.get("valueFrom"))
        if declared is not None:
            for vname, required in sorted(declared.items()):
                if required and vname not in seen:
                    out.append((app, f"variable {vname} is required by {manifest.name} and not set"))
        for where, kind, rname, key, optional in refs:
            if optional:
                continue
            store = stores.get((kind, ns, rname))
            if store is None:
                out.append((app, f"{where}: {kind} {rname} is not created in namespace {ns} by this folder"))
            elif kind == "Secret" and key not in secret_keys(store):
                out.append((app, f"{where}: Secret {ns}/{rname} has no key {key}"))
            elif kind == "ConfigMap" and key not in set(store.data.get("data") or {}) | set(store.data.get("binaryData") or {}):
                out.append((app, f"{where}: ConfigMap {ns}/{rname} has no key {key}"))
    out += cronjob_problems(docs, stores)
    return out


CREDENTIAL_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)


def cronjob_problems(docs: list[Doc], stores: dict) -> list[tuple[Doc, str]]:
    """The rules for a CronJob that runs a job route (see the module's doc)."""
    out = []
    apps = {(d.namespace, d.name) for d in docs if d.kind == "SpinApp" and d.api_version.startswith(SPIN_GROUP + "/")}
    for cj in (d for d in docs if d.kind == "CronJob" and d.api_version == "batch/v1"):
        spec, ns = cj.spec, cj.namespace
        if spec.get("concurrencyPolicy") != "Forbid":
            out.append((cj, "spec.concurrencyPolicy must be Forbid: a run must not start while the last one is going"))
        deadline = spec.get("startingDeadlineSeconds")
        if not isinstance(deadline, int) or deadline < 1:
            out.append((cj, "spec.startingDeadlineSeconds must be set (> 0): missed runs are skipped, not made up in a burst"))
        pod = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        containers = [c for c in pod.get("containers") or [] if isinstance(c, dict)]
        calls = []
        for i, c in enumerate(containers):
            where = f"spec.jobTemplate.spec.template.spec.containers[{i}]"
            text = " ".join(str(x) for x in (c.get("command") or []) + (c.get("args") or []))
            calls.append(text)
            for j, env in enumerate(c.get("env") or []):
                if not isinstance(env, dict):
                    continue
                ewhere = f"{where}.env[{j}] ({env.get('name', '')})"
                if CREDENTIAL_NAME.search(str(env.get("name", ""))) and "value" in env:
                    out.append((cj, f"{ewhere}: a credential written in the manifest; take it from a Secret (valueFrom.secretKeyRef)"))
                for rwhere, kind, rname, key, optional in value_from_refs(ewhere, env.get("valueFrom")):
                    store = stores.get((kind, ns, rname))
                    if store is None:
                        out.append((cj, f"{rwhere}: {kind} {rname} is not created in namespace {ns} by this folder"))
                    elif kind == "Secret" and key not in secret_keys(store):
                        out.append((cj, f"{rwhere}: Secret {ns}/{rname} has no key {key}"))
        text = " ".join(calls)
        services = [f"{name}.{ns}.svc" for (app_ns, name) in sorted(apps) if app_ns == ns]
        pattern = re.compile(r"https?://(" + "|".join(re.escape(s) for s in services) + r")(\.cluster\.local)?(:\d+)?/v1/jobs/[a-z]") if services else None
        if pattern is None or not pattern.search(text):
            names = ", ".join(services) or f"none: no SpinApp in namespace {ns}"
            out.append((cj, f"its containers call no job route (/v1/jobs/<name>) on a SpinApp's Service in its namespace ({names})"))
        if re.search(r"[?&]key=", text):
            out.append((cj, "calls a job route with ?key=: in a cluster send the key in `Authorization`, never in a URL (access logs keep URLs)"))
    return out


def value_from_refs(where: str, value_from):
    if not isinstance(value_from, dict):
        return []
    out = []
    for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
        ref = value_from.get(field)
        if isinstance(ref, dict):
            out.append((where, kind, ref.get("name", ""), ref.get("key", ""), ref.get("optional") is True))
    return out


def check(folder: pathlib.Path, shown: str, manifest: pathlib.Path) -> tuple[list[str], str]:
    problems: list[str] = []
    docs = load(folder, shown, problems)
    schemas = Schemas()
    crd_checked = core_checked = 0
    for doc in docs:
        for line in schema_problems(doc, schemas):
            problems.append(f"{doc.file}: {doc.label()}: {line}")
        if doc.api_version.startswith(SPIN_GROUP + "/"):
            crd_checked += 1
        else:
            core_checked += 1
    for doc, line in rule_problems(docs, manifest):
        where = f"{doc.file}: {doc.label()}" if doc else shown
        problems.append(f"{where}: {line}")
    summary = (
        f"{shown}: {len(docs)} objects ({crd_checked} against the spin-operator v0.6.1 CRDs, "
        f"{core_checked} against Kubernetes {KUBERNETES_VERSION}, strict) and the operator's rules"
    )
    return problems, summary


# ---------------------------------------------------------------- self-test


def replace(file: str, old: str, new: str, count: int = 1):
    def plant(folder: pathlib.Path):
        path = folder / file
        text = path.read_text()
        if old not in text:
            raise AssertionError(f"{file} no longer contains {old!r}: update the self-test")
        path.write_text(text.replace(old, new, count))
    return plant


def drop_document(file: str, marker: str):
    def plant(folder: pathlib.Path):
        path = folder / file
        parts = re.split(r"(?m)^---\s*$", path.read_text())
        kept = [p for p in parts if marker not in p]
        if len(kept) != len(parts) - 1:
            raise AssertionError(f"{file}: no single document contains {marker!r}: update the self-test")
        path.write_text("---".join(kept))
    return plant


def move_document_last(file: str, marker: str):
    def plant(folder: pathlib.Path):
        path = folder / file
        parts = re.split(r"(?m)^---\s*$", path.read_text())
        hits = [p for p in parts if marker in p]
        if len(hits) != 1:
            raise AssertionError(f"{file}: no single document contains {marker!r}: update the self-test")
        rest = [p for p in parts if p is not hits[0]]
        path.write_text("---".join(rest + [hits[0]]))
    return plant


SPINAPP = "examples/spinkube/spinapp.yaml: SpinApp accs-edge/accs-edge: "
EXECUTOR = "examples/spinkube/spinapp.yaml: SpinAppExecutor accs-edge/containerd-shim-spin: "
EXECUTOR_DOC = "kind: SpinAppExecutor"
CRONJOB = "examples/spinkube/spinapp-journal-cronjob.yaml: CronJob accs-edge/accs-edge-journal: "

PLANTS = [
    (
        "the executor in another namespace",
        replace("spinapp.yaml", "  name: containerd-shim-spin\n  namespace: accs-edge\n", "  name: containerd-shim-spin\n  namespace: default\n"),
        SPINAPP + "executor containerd-shim-spin is not created in namespace accs-edge (this folder creates it with namespace default)",
    ),
    (
        "the executor without a namespace (as SpinKube's install creates it)",
        replace("spinapp.yaml", "  name: containerd-shim-spin\n  namespace: accs-edge\n", "  name: containerd-shim-spin\n"),
        "examples/spinkube/spinapp.yaml: SpinAppExecutor containerd-shim-spin (no namespace): has no metadata.namespace",
    ),
    (
        "the executor missing",
        drop_document("spinapp.yaml", EXECUTOR_DOC),
        SPINAPP + "executor containerd-shim-spin is not created in namespace accs-edge;",
    ),
    (
        "the executor after the SpinApp",
        move_document_last("spinapp.yaml", EXECUTOR_DOC),
        SPINAPP + "comes before its executor containerd-shim-spin",
    ),
    (
        "an unknown field in the SpinApp spec",
        replace("spinapp.yaml", "  replicas: 2\n", "  replicas: 2\n  runtimeConfigSecretName: accs-edge-runtime-config\n"),
        SPINAPP + "spec.runtimeConfigSecretName: unknown field",
    ),
    (
        "a misspelt executor field",
        replace("spinapp.yaml", "    installDefaultCACerts: true\n", "    installDefaultCACert: true\n"),
        EXECUTOR + "spec.deploymentConfig.installDefaultCACert: unknown field",
    ),
    (
        "an unknown field in a core object (Secret stringdata)",
        replace("secret.yaml", "stringData:\n", "stringdata:\n"),
        "examples/spinkube/secret.yaml: Secret accs-edge/accs-edge-secrets: stringdata: unknown field",
    ),
    (
        "a wrong type (replicas as a string)",
        replace("spinapp.yaml", "  replicas: 2\n", '  replicas: "2"\n'),
        SPINAPP + "spec.replicas: '2' is not of type 'integer'",
    ),
    (
        "a wrong type in a core object (a Secret value as a number)",
        replace("secret.yaml", '  ims_client_id: "REPLACE_WITH_IMS_CLIENT_ID"\n', "  ims_client_id: 12345\n"),
        "examples/spinkube/secret.yaml: Secret accs-edge/accs-edge-secrets: stringData.ims_client_id: 12345 is not of type 'string'",
    ),
    (
        "a required executor field missing",
        replace("spinapp.yaml", "  createDeployment: true\n", ""),
        EXECUTOR + "spec.createDeployment: required field is missing",
    ),
    (
        "the Redis URL Secret without its key",
        replace("secret.yaml", '  url: "redis://', '  uri: "redis://'),
        SPINAPP + "spec.runtimeConfig.keyValueStores[0].options[0]: Secret accs-edge/accs-edge-redis has no key url",
    ),
    (
        "a variable spin.toml does not declare",
        replace("spinapp.yaml", "    - name: accs_store_code\n", "    - name: accs_store\n"),
        SPINAPP + "spec.variables[6] (accs_store): not declared in spin.toml [variables]",
    ),
    (
        "the journal CronJob allowing concurrent runs",
        replace("spinapp-journal-cronjob.yaml", "  concurrencyPolicy: Forbid\n", "  concurrencyPolicy: Allow\n"),
        CRONJOB + "spec.concurrencyPolicy must be Forbid",
    ),
    (
        "the journal CronJob without a starting deadline",
        replace("spinapp-journal-cronjob.yaml", "  startingDeadlineSeconds: 120\n", ""),
        CRONJOB + "spec.startingDeadlineSeconds must be set",
    ),
    (
        "the journal CronJob's key from a Secret key that does not exist",
        replace("secret.yaml", '  job_key: "REPLACE_WITH_JOB_KEY"\n', ""),
        CRONJOB + "spec.jobTemplate.spec.template.spec.containers[0].env[0] (JOB_KEY): Secret accs-edge/accs-edge-secrets has no key job_key",
    ),
    (
        "the journal CronJob's key written in the manifest",
        replace(
            "spinapp-journal-cronjob.yaml",
            "                  valueFrom:\n                    secretKeyRef:\n                      name: accs-edge-secrets\n                      key: job_key\n",
            '                  value: "cron-key-0123456789abcdef0123456789"\n',
        ),
        CRONJOB + "spec.jobTemplate.spec.template.spec.containers[0].env[0] (JOB_KEY): a credential written in the manifest",
    ),
    (
        "the journal CronJob calling another host than the app's Service",
        replace("spinapp-journal-cronjob.yaml", "http://accs-edge.accs-edge.svc.cluster.local/v1/jobs/journal", "http://accs-edge.example.com/v1/jobs/journal"),
        CRONJOB + "its containers call no job route (/v1/jobs/<name>) on a SpinApp's Service in its namespace (accs-edge.accs-edge.svc)",
    ),
    (
        "the journal CronJob sending the key in the URL",
        replace("spinapp-journal-cronjob.yaml", "/v1/jobs/journal\n", "/v1/jobs/journal?key=$JOB_KEY\n"),
        CRONJOB + "calls a job route with ?key=",
    ),
    (
        "a wrong type in the CronJob (schedule as a number)",
        replace("spinapp-journal-cronjob.yaml", '  schedule: "*/5 * * * *"\n', "  schedule: 5\n"),
        CRONJOB + "spec.schedule: 5 is not of type 'string'",
    ),
    (
        "a key given twice",
        replace("spinapp.yaml", "  replicas: 2\n", "  replicas: 2\n  replicas: 3\n"),
        "YAML error: key 'replicas' given twice",
    ),
]


def self_test(manifest: pathlib.Path) -> int:
    started = time.monotonic()
    source = ROOT / EXAMPLES
    failures = 0

    def run(folder: pathlib.Path):
        proc = subprocess.run(
            [sys.executable, __file__, "--dir", str(folder), "--as", EXAMPLES, "--manifest", str(manifest)],
            capture_output=True, text=True,
        )
        return proc.returncode, proc.stdout + proc.stderr

    with tempfile.TemporaryDirectory(prefix="check-manifests-") as tmp:
        tmp = pathlib.Path(tmp)
        clean = tmp / "clean"
        shutil.copytree(source, clean)
        rc, out = run(clean)
        if rc != 0:
            print(f"self-test: FAIL: the unchanged examples do not pass:\n{out}")
            return 1
        print("self-test: ok: the unchanged examples pass")
        for i, (what, plant, expected) in enumerate(PLANTS):
            folder = tmp / f"plant-{i}"
            shutil.copytree(source, folder)
            try:
                plant(folder)
            except AssertionError as err:
                print(f"self-test: FAIL: {what}: {err}")
                failures += 1
                continue
            rc, out = run(folder)
            hits = [line for line in out.splitlines() if expected in line]
            if rc == 0 or not hits:
                print(f"self-test: FAIL: {what}: expected a failure with {expected!r}, got exit {rc}:\n{out}")
                failures += 1
            else:
                print(f"self-test: ok: {what}: exit {rc}: {hits[0]}")
    total = len(PLANTS)
    print(f"self-test: {total} planted defects in {time.monotonic() - started:.1f} s")
    print(f"self-test: {total - failures} passed, {failures} failed")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="plant known defects in a copy and expect each to be caught")
    parser.add_argument("--dir", type=pathlib.Path, default=ROOT / EXAMPLES, help="the folder to check")
    parser.add_argument("--as", dest="shown", default=EXAMPLES, help="the folder's name in messages")
    parser.add_argument("--manifest", type=pathlib.Path, default=ROOT / "spin.toml", help="the Spin manifest whose [variables] the SpinApps set")
    args = parser.parse_args()
    if args.self_test:
        return self_test(args.manifest)
    started = time.monotonic()
    problems, summary = check(args.dir, args.shown, args.manifest)
    for line in problems:
        print(line)
    elapsed = f"{time.monotonic() - started:.1f} s"
    if problems:
        print(f"check-manifests: {len(problems)} problem(s) in {summary} ({elapsed})")
        return 1
    print(f"check-manifests: ok: {summary} ({elapsed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
