"use client";
import { Badge } from "@radix-ui/themes";
import type { Candidate } from "@/lib/api/types";
import { formatMs, formatUsd } from "@/lib/i18n";
import { usePrefs, useT } from "./prefs";

/** Every candidate route with kept/dropped and why. */
export function RouteTable({ candidates }: { candidates: Candidate[] }) {
  const t = useT();
  const { lang } = usePrefs();
  return (
    <table className="data" data-testid="candidates">
      <thead>
        <tr><th scope="col">{t("candidate")}</th><th scope="col">{t("status")}</th><th scope="col">{t("reason")}</th><th scope="col">{t("estCost")}</th><th scope="col">{t("estLatency")}</th></tr>
      </thead>
      <tbody>
        {candidates.map((c, i) => (
          <tr key={i} data-kept={c.kept ? "true" : "false"}>
            <td className="mono">{String(c.kind ?? "")}:{String(c.target ?? "")}</td>
            <td><Badge color={c.kept ? "green" : "red"}>{c.kept ? t("kept") : t("dropped")}</Badge></td>
            <td>{c.reason || "—"}</td>
            <td>{typeof c.estCostUsd === "number" ? formatUsd(lang, c.estCostUsd) : ""}</td>
            <td>{typeof c.estLatencyMs === "number" ? formatMs(lang, c.estLatencyMs) : ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
