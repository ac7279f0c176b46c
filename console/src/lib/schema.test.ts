import { describe, expect, it } from "vitest";
import { exampleParams, validateParams } from "./schema";

const summarize = { type: "object", required: ["text"], properties: { text: { type: "string", minLength: 1, maxLength: 5 }, n: { type: "integer", minimum: 1 } }, additionalProperties: false };

describe("validateParams", () => {
  it("accepts what the schema allows", () => {
    expect(validateParams(summarize, { text: "hi", n: 2 })).toEqual([]);
    expect(validateParams(null, { anything: true })).toEqual([]);
  });
  it("names every problem by its path", () => {
    expect(validateParams(summarize, { n: 0.5, x: 1 })).toEqual([
      "params.text: is required",
      "params.n: must be integer",
      "params.x: is not allowed",
    ]);
    expect(validateParams(summarize, { text: "toolong" })).toEqual(["params.text: must be at most 5 characters"]);
    expect(validateParams(summarize, [])).toEqual(["params: must be object"]);
    expect(validateParams({ type: "array", items: { enum: ["a"] }, maxItems: 1 }, ["b", "a"], "p")).toEqual(["p: must have at most 1 items", 'p[0]: must be one of "a"']);
  });
  it("knows anyOf and oneOf (chat: messages or text)", () => {
    const chat = { type: "object", anyOf: [{ required: ["messages"] }, { required: ["text"] }], properties: { messages: { type: "array", minItems: 1 }, text: { type: "string" } } };
    expect(validateParams(chat, { text: "hi" })).toEqual([]);
    expect(validateParams(chat, {})).toEqual(["params: must match one or more of: params.messages: is required | params.text: is required"]);
    expect(validateParams({ oneOf: [{ type: "string" }, { type: "number" }] }, true)).toHaveLength(1);
    expect(exampleParams(chat)).toEqual({ messages: [{ role: "user", content: "" }] });
  });
  it("starts params with the required fields", () => {
    expect(exampleParams(summarize)).toEqual({ text: "" });
    expect(exampleParams({ required: ["ms"], properties: { ms: { type: "integer" } } })).toEqual({ ms: 0 });
  });
});
