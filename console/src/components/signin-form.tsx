"use client";
import { useState } from "react";
import { signIn } from "next-auth/react";
import { Button, Callout, Card, Flex, Heading, Separator, TextField } from "@radix-ui/themes";
import { useT } from "./prefs";

export function SignInForm({ google, error }: { google: boolean; error?: string }) {
  const t = useT();
  const [key, setKey] = useState("");
  const [tenant, setTenant] = useState("");
  const [problem, setProblem] = useState(error ? t("badKey") : "");
  const [busy, setBusy] = useState(false);
  return (
    <Card size="4" className="glass signin-card">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setProblem("");
          const r = await signIn("apikey", { apiKey: key, tenant, redirect: false });
          setBusy(false);
          if (r?.ok && !r.error) window.location.assign("/tasks");
          else setProblem(t("badKey"));
        }}
      >
        <Flex direction="column" gap="3">
          <Heading as="h1" size="6">{t("signInTitle")}</Heading>
          <label htmlFor="apiKey">{t("apiKey")}</label>
          <TextField.Root id="apiKey" name="apiKey" type="password" autoComplete="off" required value={key} onChange={(e) => setKey(e.target.value)} />
          <label htmlFor="tenant">{t("tenant")} (optional)</label>
          <TextField.Root id="tenant" name="tenant" value={tenant} onChange={(e) => setTenant(e.target.value)} />
          {problem && (
            <Callout.Root color="red" role="alert" data-testid="signin-error">
              <Callout.Text>{problem}</Callout.Text>
            </Callout.Root>
          )}
          <Button type="submit" size="3" disabled={busy} data-testid="signin-key">{t("signInKey")}</Button>
          {google && (
            <>
              <Separator size="4" />
              <Button type="button" variant="outline" size="3" data-testid="signin-google" onClick={() => signIn("google", { callbackUrl: "/tasks" })}>
                {t("signInGoogle")}
              </Button>
            </>
          )}
        </Flex>
      </form>
    </Card>
  );
}
