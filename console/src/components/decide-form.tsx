"use client";
import { useState } from "react";
import { Button, Callout, Card, Flex, Heading, Text } from "@radix-ui/themes";
import type { Candidate, Intent } from "@/lib/api/types";
import { formatUsd } from "@/lib/i18n";
import { exampleParams } from "@/lib/schema";
import { usePrefs, useT } from "./prefs";
import { RouteTable } from "./route-table";
import { parseParams } from "./submit-form";

interface Decision { candidates?: Candidate[]; primary?: { kind: string; target: string }; budgetUsd?: number; privacy?: string; policyDigest?: string }

export function DecideForm({ intents }: { intents: Intent[] }) {
  const t = useT();
  const { lang } = usePrefs();
  const [name, setName] = useState(intents[0]?.name ?? "");
  const [text, setText] = useState(() => JSON.stringify(exampleParams(intents[0]?.paramsSchema), null, 2));
  const [privacy, setPrivacy] = useState("");
  const [budget, setBudget] = useState("");
  const [result, setResult] = useState<Decision | null>(null);
  const [problem, setProblem] = useState("");
  const parsed = parseParams(text);
  return (
    <div className="content">
      <Card className="glass panel" asChild>
        <section aria-labelledby="dry-h">
          <form
            onSubmit={async (e) => {
              e.preventDefault();
              if (!parsed.value) return;
              setProblem("");
              const res = await fetch("/api/router/decide", {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ intent: name, params: parsed.value, privacy: privacy || undefined, budgetUsd: budget ? Number(budget) : undefined }),
              });
              const body = (await res.json()) as Decision & { error?: { message: string; details?: { candidates?: Candidate[] } } };
              if (res.ok) setResult(body);
              else {
                setProblem(body.error?.message ?? res.statusText);
                setResult(body.error?.details?.candidates ? { candidates: body.error.details.candidates } : null);
              }
            }}
          >
            <Flex direction="column" gap="3">
              <Heading as="h1" size="5" id="dry-h">{t("dryRun")}</Heading>
              <div className="field">
                <label htmlFor="d-intent">{t("intent")}</label>
                <select id="d-intent" data-testid="intent" value={name} onChange={(e) => {
                  setName(e.target.value);
                  setText(JSON.stringify(exampleParams(intents.find((i) => i.name === e.target.value)?.paramsSchema), null, 2));
                }}>
                  {intents.map((i) => <option key={i.name} value={i.name}>{i.name}</option>)}
                </select>
              </div>
              <div className="field">
                <label htmlFor="d-params">{t("params")}</label>
                <textarea id="d-params" data-testid="params" className="plain mono" rows={5} dir="ltr" value={text} onChange={(e) => setText(e.target.value)} aria-invalid={!!parsed.error} />
                {parsed.error && <Text color="red" size="1">{t("invalidJson")}</Text>}
              </div>
              <Flex gap="3" wrap="wrap">
                <div className="field">
                  <label htmlFor="d-privacy">{t("privacy")}</label>
                  <select id="d-privacy" value={privacy} onChange={(e) => setPrivacy(e.target.value)}>
                    <option value="">—</option><option value="local-only">local-only</option><option value="hybrid">hybrid</option><option value="allow-api">allow-api</option>
                  </select>
                </div>
                <div className="field">
                  <label htmlFor="d-budget">{t("budget")}</label>
                  <input id="d-budget" className="plain" type="number" step="0.001" min="0" value={budget} onChange={(e) => setBudget(e.target.value)} />
                </div>
              </Flex>
              <Button type="submit" size="3" data-testid="decide" disabled={!parsed.value}>{t("decide")}</Button>
            </Flex>
          </form>
        </section>
      </Card>
      {problem && <Callout.Root color="red" role="alert" data-testid="decide-error"><Callout.Text>{problem}</Callout.Text></Callout.Root>}
      {result && (
        <Card className="glass panel" asChild>
          <section aria-labelledby="plan-h">
            <Heading as="h2" size="4" id="plan-h" mb="2">{t("plan")}</Heading>
            {result.primary && (
              <Text as="p" mb="2" data-testid="primary">
                {t("primary")}: <span className="mono">{result.primary.kind}:{result.primary.target}</span>
                {result.budgetUsd !== undefined && <> · {t("budget")}: {formatUsd(lang, result.budgetUsd)}</>}
                {result.privacy && <> · {t("privacy")}: {result.privacy}</>}
              </Text>
            )}
            <RouteTable candidates={result.candidates ?? []} />
          </section>
        </Card>
      )}
    </div>
  );
}
