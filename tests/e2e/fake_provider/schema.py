"""JSON schemas: why one is not valid for OpenAI's strict mode, and the minimal instance
a JSON-mode answer gives."""
import json


def _strict_schema_problem(s, path="()"):
    """Why a schema is not valid for OpenAI's strict mode (None when it is)."""
    if not isinstance(s, dict):
        return None
    for key in ("$defs", "definitions"):
        for name, sub in (s.get(key) or {}).items():
            if (p := _strict_schema_problem(sub, f"{path}, '{key}', '{name}'")):
                return p
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(s.get(key) or []):
            if (p := _strict_schema_problem(sub, f"{path}, '{key}', '{i}'")):
                return p
    t = s.get("type")
    if t == "object" or (isinstance(t, list) and "object" in t) or "properties" in s:
        if s.get("additionalProperties") is not False:
            return f"In context={path}, 'additionalProperties' is required to be supplied and to be false."
        props = s.get("properties") or {}
        missing = [k for k in props if k not in (s.get("required") or [])]
        if missing:
            return (f"In context={path}, 'required' is required to be supplied and to be an array including every "
                    f"key in properties. Missing '{missing[0]}'.")
        for k, sub in props.items():
            if (p := _strict_schema_problem(sub, f"{path}, 'properties', '{k}'")):
                return p
    if isinstance(s.get("items"), dict):
        return _strict_schema_problem(s["items"], f"{path}, 'items'")
    return None


def _schema_instance(s, root=None, depth=0):
    """A minimal instance of a JSON schema: each object property, "echo" for
    strings, 0 for numbers, false, [], the first enum value, the const."""
    root = s if root is None else root
    if not isinstance(s, dict) or depth > 32:
        return None
    if "const" in s:
        return s["const"]
    if isinstance(s.get("enum"), list) and s["enum"]:
        return s["enum"][0]
    ref = s.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return _schema_instance(target, root, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(s.get(key), list) and s[key]:
            return _schema_instance(s[key][0], root, depth + 1)
    t = s.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t is None and "properties" in s:
        t = "object"
    if t == "object":
        return {k: _schema_instance(v, root, depth + 1) for k, v in (s.get("properties") or {}).items()}
    return {"string": "echo", "number": 0, "integer": 0, "boolean": False, "array": []}.get(t)


def _json_answer(schema, last_user):
    """The JSON text a JSON mode answers: {"echo": ...} without a schema, else the schema's instance."""
    if schema is None:
        return json.dumps({"echo": last_user})
    return json.dumps(_schema_instance(schema))
