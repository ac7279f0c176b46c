import { describe, expect, it } from "vitest";
import { LANGS, MESSAGES, dirOf, formatNumber, formatUsd, isLang } from "./i18n";

describe("i18n", () => {
  it("has every message in every language", () => {
    const keys = Object.keys(MESSAGES.en).sort();
    for (const l of LANGS) {
      expect(Object.keys(MESSAGES[l]).sort()).toEqual(keys);
      for (const k of keys) expect(MESSAGES[l][k as keyof typeof MESSAGES.en]).not.toBe("");
    }
  });
  it("puts Arabic and Hebrew right to left", () => {
    expect(dirOf("ar")).toBe("rtl");
    expect(dirOf("he")).toBe("rtl");
    expect(dirOf("en")).toBe("ltr");
    expect(isLang("fr")).toBe(false);
  });
  it("formats per locale", () => {
    expect(formatNumber("en", 1234.5)).toBe("1,234.5");
    expect(formatNumber("ar", 12)).toMatch(/[٠-٩]{2}/);
    expect(formatUsd("en", 0.0017205)).toBe("$0.001721");
    expect(formatUsd("en", 3)).toBe("$3.00");
    expect(formatUsd("he", 3)).toMatch(/3\.00/);
  });
});
