"use client";
import { useState } from "react";
import { Badge, Button, Callout, Card, Heading } from "@radix-ui/themes";
import type { ModuleInfo } from "@/lib/api/types";
import { formatNumber } from "@/lib/i18n";
import { usePrefs, useT } from "./prefs";

const VERIFY_COLOR: Record<string, "green" | "amber" | "red"> = { verified: "green", unsigned: "amber", refused: "red" };

export function ModulesTable({ initial, canToggle, problem }: { initial: ModuleInfo[]; canToggle: boolean; problem?: string }) {
  const t = useT();
  const { lang } = usePrefs();
  const [items, setItems] = useState(initial);
  const [error, setError] = useState(problem ?? "");
  return (
    <Card className="glass panel" asChild>
      <section aria-labelledby="mod-h">
        <Heading as="h1" size="5" id="mod-h" mb="3">{t("modules")}</Heading>
        {error && <Callout.Root color="red" role="alert" mb="2"><Callout.Text>{error}</Callout.Text></Callout.Root>}
        <div style={{ overflowX: "auto" }}>
          <table className="data" data-testid="modules">
            <thead>
              <tr>
                <th scope="col">Module</th><th scope="col">{t("signature")}</th><th scope="col">{t("sbom")}</th>
                <th scope="col">{t("limits")}</th><th scope="col">{t("gpu")}</th><th scope="col">{t("enabled")}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((m) => {
                const v = m.verification?.status ?? "unknown";
                const L = (m.limits ?? {}) as Record<string, number>;
                const gpu = (m.resources as { gpu?: string } | undefined)?.gpu;
                return (
                  <tr key={m.name} data-module={m.name}>
                    <td><strong>{m.name}</strong> <span className="muted">{m.version} · {m.kind} · {m.source}</span></td>
                    <td>
                      <Badge color={VERIFY_COLOR[v] ?? "gray"}>{v}</Badge>
                      {m.verification?.signer && <div className="mono muted">{m.verification.signer}</div>}
                      {m.verification?.reason && <div className="muted">{m.verification.reason}</div>}
                    </td>
                    <td>{m.sbom ? <Badge color="green">CycloneDX</Badge> : <Badge color="gray">—</Badge>}</td>
                    <td className="mono">
                      {L.memoryMb !== undefined && <>mem {formatNumber(lang, L.memoryMb)} MB<br /></>}
                      {L.timeoutMs !== undefined && <>time {formatNumber(lang, L.timeoutMs)} ms<br /></>}
                      {L.outputBytes !== undefined && <>out {formatNumber(lang, L.outputBytes)} B<br /></>}
                      {L.concurrency !== undefined && <>conc {formatNumber(lang, L.concurrency)}</>}
                    </td>
                    <td>{gpu && gpu !== "none" ? gpu : "—"}</td>
                    <td>
                      <Badge color={m.enabled ? "green" : "gray"} data-testid="module-enabled">{m.enabled ? t("enabled") : t("disable")}</Badge>{" "}
                      {canToggle && (
                        <Button size="1" variant="soft" data-testid={`toggle-${m.name}`} aria-label={`${m.enabled ? t("disable") : t("enable")} ${m.name}`}
                          onClick={async () => {
                            const r = await fetch(`/api/modules/${encodeURIComponent(m.name)}/${m.enabled ? "disable" : "enable"}`, { method: "POST" });
                            const body = (await r.json()) as ModuleInfo & { error?: { message: string } };
                            if (r.ok) setItems((xs) => xs.map((x) => (x.name === m.name ? body : x)));
                            else setError(body.error?.message ?? r.statusText);
                          }}>
                          {m.enabled ? t("disable") : t("enable")}
                        </Button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>
    </Card>
  );
}
