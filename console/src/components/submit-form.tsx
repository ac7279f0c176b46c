"use client";
import { useMemo, useState } from "react";
import { useRouter } from "next/navigation";
import { Button, Callout, Card, Flex, Heading, Text } from "@radix-ui/themes";
import type { Intent } from "@/lib/api/types";
import { exampleParams, validateParams } from "@/lib/schema";
import { useT } from "./prefs";

export function parseParams(text: string): { value?: Record<string, unknown>; error?: string } {
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== "object" || Array.isArray(v)) return { error: "params must be a JSON object" };
    return { value: v as Record<string, unknown> };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

export function SubmitForm({ intents, canSubmit, problem }: { intents: Intent[]; canSubmit: boolean; problem?: string }) {
  const t = useT();
  const router = useRouter();
  const usable = intents.filter((i) => i.canSubmit);
  const [name, setName] = useState(usable[0]?.name ?? intents[0]?.name ?? "");
  const intent = useMemo(() => intents.find((i) => i.name === name), [intents, name]);
  const [text, setText] = useState(() => JSON.stringify(exampleParams(intent?.paramsSchema), null, 2));
  const [privacy, setPrivacy] = useState("");
  const [serverError, setServerError] = useState(problem ?? "");
  const [busy, setBusy] = useState(false);
  const parsed = parseParams(text);
  const errors = parsed.error ? [`${t("invalidJson")}: ${parsed.error}`] : validateParams(intent?.paramsSchema, parsed.value);

  return (
    <Card className="glass panel" asChild>
      <section aria-labelledby="submit-h">
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            if (errors.length || !parsed.value) return;
            setBusy(true);
            setServerError("");
            const res = await fetch("/api/tasks", {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ intent: name, params: parsed.value, privacy: privacy || undefined }),
            });
            const body = (await res.json()) as { taskId?: string; error?: { message: string } };
            setBusy(false);
            if (res.ok && body.taskId) router.push(`/tasks/${body.taskId}`);
            else setServerError(body.error?.message ?? res.statusText);
          }}
        >
          <Flex direction="column" gap="3">
            <Heading as="h1" size="5" id="submit-h">{t("submitTask")}</Heading>
            {!canSubmit && <Text color="gray">{t("viewerReadOnly")}</Text>}
            <div className="field">
              <label htmlFor="intent">{t("intent")}</label>
              <select
                id="intent"
                data-testid="intent"
                value={name}
                onChange={(e) => {
                  const next = intents.find((i) => i.name === e.target.value);
                  setName(e.target.value);
                  setText(JSON.stringify(exampleParams(next?.paramsSchema), null, 2));
                }}
              >
                {intents.map((i) => (
                  <option key={i.name} value={i.name} disabled={!i.canSubmit}>{i.name}{i.description ? ` — ${i.description}` : ""}</option>
                ))}
              </select>
              {intent && <Text size="1" color="gray">{t("privacy")}: {intent.privacy} · {intent.candidates.map((c) => `${c.kind}:${c.target}`).join(", ")}</Text>}
            </div>
            <div className="field">
              <label htmlFor="params">{t("params")}</label>
              <textarea
                id="params"
                data-testid="params"
                className="plain mono"
                rows={8}
                spellCheck={false}
                dir="ltr"
                value={text}
                aria-invalid={errors.length > 0}
                aria-describedby="params-errors"
                onChange={(e) => setText(e.target.value)}
              />
              <ul id="params-errors" className="bad" data-testid="params-errors" aria-live="polite">
                {errors.map((er) => <li key={er}>{er}</li>)}
              </ul>
            </div>
            <div className="field">
              <label htmlFor="privacy">{t("privacy")}</label>
              <select id="privacy" value={privacy} onChange={(e) => setPrivacy(e.target.value)}>
                <option value="">—</option>
                <option value="local-only">local-only</option>
                <option value="hybrid">hybrid</option>
                <option value="allow-api">allow-api</option>
              </select>
            </div>
            {serverError && (
              <Callout.Root color="red" role="alert"><Callout.Text>{serverError}</Callout.Text></Callout.Root>
            )}
            <Button type="submit" size="3" data-testid="submit" disabled={!canSubmit || busy || errors.length > 0}>{t("submit")}</Button>
          </Flex>
        </form>
      </section>
    </Card>
  );
}
