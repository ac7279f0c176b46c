// YAML syntax problems found in the browser, located at their line, before
// the control plane validates the whole set.
import { parseDocument } from "yaml";
import type { PolicyLocation } from "./api/types";

export function yamlProblems(file: string, text: string): PolicyLocation[] {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  return doc.errors.map((e) => ({ file, line: e.linePos?.[0]?.line ?? 0, message: e.message.split("\n")[0] ?? e.message }));
}
