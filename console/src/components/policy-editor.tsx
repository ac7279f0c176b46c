"use client";
import { useMemo, useState } from "react";
import dynamic from "next/dynamic";
import { Badge, Button, Callout, Card, Flex, Heading, Text } from "@radix-ui/themes";
import type { PolicyFiles, PolicyLocation } from "@/lib/api/types";
import { usePrefs, useT } from "./prefs";

const YamlEditor = dynamic(() => import("./yaml-editor").then((m) => m.YamlEditor), { ssr: false, loading: () => <p>…</p> });

interface SaveError { error: { code: string; message: string; details?: { locations?: PolicyLocation[]; errors?: string[] } } }

export function PolicyEditor({ initial, canEdit }: { initial: PolicyFiles; canEdit: boolean }) {
  const t = useT();
  const { theme } = usePrefs();
  const [files, setFiles] = useState(initial.files);
  const [digest, setDigest] = useState(initial.digest);
  const [name, setName] = useState(initial.files[0]?.name ?? "intents.yml");
  const [drafts, setDrafts] = useState<Record<string, string>>(() => Object.fromEntries(initial.files.map((f) => [f.name, f.text])));
  const [problems, setProblems] = useState<PolicyLocation[]>([]);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const file = files.find((f) => f.name === name)!;
  const draft = drafts[name] ?? "";
  const dirty = draft !== file.text;
  const fileProblems = useMemo(() => problems.filter((p) => p.file === name || p.file === null), [problems, name]);

  function select(next: string) {
    setName(next);
    setProblems([]);
    setMessage(null);
  }

  async function send(dryRun: boolean) {
    setBusy(true);
    setMessage(null);
    const res = await fetch(`/api/policies/${encodeURIComponent(name)}${dryRun ? "?dryRun=true" : ""}`, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: draft, expectedSha256: file.sha256 }),
    });
    const body = (await res.json()) as { digest?: string; sha256?: string } & Partial<SaveError>;
    setBusy(false);
    if (res.ok) {
      setProblems([]);
      if (!dryRun) {
        setFiles((fs) => fs.map((f) => (f.name === name ? { ...f, text: draft, sha256: body.sha256 ?? f.sha256 } : f)));
        if (body.digest) setDigest(body.digest);
      }
      setMessage({ ok: true, text: dryRun ? t("valid") : t("saved") });
      return;
    }
    const locs = body.error?.details?.locations ?? [];
    setProblems(locs);
    setMessage({ ok: false, text: res.status === 422 ? t("refused") : body.error?.message ?? res.statusText });
  }

  return (
    <Card className="glass panel" asChild>
      <section aria-labelledby="pol-h">
        <Flex justify="between" align="center" wrap="wrap" gap="3" mb="3">
          <Heading as="h1" size="5" id="pol-h">{t("policies")}</Heading>
          <Text size="2" color="gray">{t("digest")}: <span className="mono" data-testid="digest">{digest}</span></Text>
        </Flex>
        <div
          role="tablist"
          aria-label={t("policies")}
          className="tabs"
          onKeyDown={(e) => {
            // arrows move between the files (mirrored in right-to-left pages), Home/End to the ends
            const dir = getComputedStyle(e.currentTarget).direction === "rtl" ? -1 : 1;
            const i = files.findIndex((f) => f.name === name);
            const next = e.key === "ArrowRight" ? i + dir : e.key === "ArrowLeft" ? i - dir : e.key === "Home" ? 0 : e.key === "End" ? files.length - 1 : null;
            if (next === null) return;
            e.preventDefault();
            const f = files[(next + files.length) % files.length]!;
            select(f.name);
            e.currentTarget.querySelector<HTMLElement>(`[data-testid="tab-${f.name}"]`)?.focus();
          }}
        >
          {files.map((f) => (
            <Button key={f.name} role="tab" aria-selected={f.name === name} tabIndex={f.name === name ? 0 : -1} variant={f.name === name ? "solid" : "soft"} data-testid={`tab-${f.name}`}
              onClick={() => select(f.name)}>
              {f.name}{drafts[f.name] !== f.text ? " •" : ""}
            </Button>
          ))}
        </div>
        <div role="tabpanel" aria-label={name} style={{ marginBlock: 12 }}>
          {!canEdit && <Text as="p" color="gray" mb="2" data-testid="read-only">{t("viewerReadOnly")}</Text>}
          <YamlEditor file={name} value={draft} readOnly={!canEdit} problems={fileProblems}
            onChange={(text) => setDrafts((d) => ({ ...d, [name]: text }))} dark={theme === "dark"} label={`${name} (YAML)`} />
        </div>
        {message && (
          <Callout.Root color={message.ok ? "green" : "red"} role={message.ok ? "status" : "alert"} data-testid="policy-message" mb="2">
            <Callout.Text>{message.text}</Callout.Text>
          </Callout.Root>
        )}
        {problems.length > 0 && (
          <ul className="bad" data-testid="policy-errors">
            {problems.map((p, i) => <li key={i} className="mono">{p.file ?? ""}{p.line ? `:${p.line}` : ""}: {p.message}</li>)}
          </ul>
        )}
        {canEdit && (
          <Flex gap="3" align="center">
            <Button variant="soft" disabled={busy} onClick={() => send(true)} data-testid="validate">{t("validate")}</Button>
            <Button disabled={busy || !dirty} onClick={() => send(false)} data-testid="save">{t("save")}</Button>
            {dirty && <Badge color="amber">{t("unsaved")}</Badge>}
          </Flex>
        )}
      </section>
    </Card>
  );
}
