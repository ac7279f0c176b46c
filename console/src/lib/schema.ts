// Checks task params against an intent's params_schema before they are sent
// (the subset of JSON Schema aionOS's policies use); the gateway checks again.
import type { JsonSchema } from "./api/types";

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeMatches(want: string, got: string): boolean {
  return want === got || (want === "number" && got === "integer");
}

export function validateParams(schema: JsonSchema | null | undefined, value: unknown, path = "params", out: string[] = []): string[] {
  if (!schema || out.length >= 20) return out;
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const got = typeOf(value);
    if (!types.some((t) => typeMatches(t, got))) {
      out.push(`${path}: must be ${types.join(" or ")}`);
      return out;
    }
  }
  for (const key of ["anyOf", "oneOf"] as const) {
    const branches = schema[key];
    if (!branches?.length) continue;
    const results = branches.map((b) => validateParams(b, value, path, []));
    const ok = results.filter((r) => r.length === 0).length;
    if (key === "anyOf" ? ok === 0 : ok !== 1)
      out.push(`${path}: must match ${key === "anyOf" ? "one or more" : "exactly one"} of: ${results.map((r) => r[0] ?? "(valid)").join(" | ")}`);
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    out.push(`${path}: must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`);
  if (typeof value === "string") {
    const len = [...value].length;
    if (schema.minLength !== undefined && len < schema.minLength) out.push(`${path}: must be at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && len > schema.maxLength) out.push(`${path}: must be at most ${schema.maxLength} characters`);
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) out.push(`${path}: must be >= ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) out.push(`${path}: must be <= ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.push(`${path}: must have at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) out.push(`${path}: must have at most ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => validateParams(schema.items, v, `${path}[${i}]`, out));
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) out.push(`${path}.${r}: is required`);
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties?.[k];
      if (sub) validateParams(sub, v, `${path}.${k}`, out);
      else if (schema.additionalProperties === false) out.push(`${path}.${k}: is not allowed`);
      else if (typeof schema.additionalProperties === "object") validateParams(schema.additionalProperties, v, `${path}.${k}`, out);
    }
  }
  return out;
}

/** A starting params object: every required string property empty. */
export function exampleParams(schema: JsonSchema | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const required = schema?.required ?? schema?.anyOf?.[0]?.required ?? schema?.oneOf?.[0]?.required ?? [];
  for (const r of required) {
    const t = schema?.properties?.[r]?.type;
    const e = schema?.properties?.[r]?.enum;
    out[r] = e?.length ? e[0] : r === "messages" && t === "array" ? [{ role: "user", content: "" }] : t === "number" || t === "integer" ? 0 : t === "array" ? [] : t === "object" ? {} : t === "boolean" ? false : "";
  }
  return out;
}
