"use client";
// The page frame: navigation, language switch, theme toggle, who is signed in.
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { signOut } from "next-auth/react";
import { Button, Flex, Text } from "@radix-ui/themes";
import { LANGS, LANG_NAMES, isLang } from "@/lib/i18n";
import { can } from "@/lib/roles";
import { usePrefs, useT } from "./prefs";

async function savePrefs(p: { lang?: string; theme?: string }) {
  await fetch("/api/prefs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(p) });
}

export function Shell({ children }: { children: React.ReactNode }) {
  const t = useT();
  const { lang, theme, roles, tenant } = usePrefs();
  const path = usePathname();
  const router = useRouter();
  const links = [
    { href: "/tasks", label: t("nav_tasks"), show: true },
    { href: "/routing", label: t("nav_routing"), show: can(roles, "decide") },
    { href: "/policies", label: t("nav_policies"), show: can(roles, "viewPolicies") },
    { href: "/modules", label: t("nav_modules"), show: can(roles, "viewModules") },
    { href: "/usage", label: t("nav_usage"), show: can(roles, "viewUsage") },
  ];
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <header className="glass topbar">
        <Flex align="center" gap="4" wrap="wrap" justify="between">
          <Flex align="center" gap="4" wrap="wrap">
            <Link href="/tasks" className="brand" data-testid="brand">◈ {t("appName")}</Link>
            <nav aria-label="Main">
              <ul className="nav">
                {links.filter((l) => l.show).map((l) => (
                  <li key={l.href}>
                    <Link href={l.href} aria-current={path.startsWith(l.href) ? "page" : undefined}>{l.label}</Link>
                  </li>
                ))}
              </ul>
            </nav>
          </Flex>
          <Flex align="center" gap="3" wrap="wrap">
            <Text size="1" color="gray" data-testid="whoami">{t("roles")}: {roles.join(", ")} · {t("tenant")}: {tenant}</Text>
            <label className="field-inline">
              <span className="sr-only">{t("language")}</span>
              <select
                aria-label={t("language")}
                data-testid="lang"
                value={lang}
                onChange={async (e) => {
                  if (!isLang(e.target.value)) return;
                  await savePrefs({ lang: e.target.value });
                  router.refresh();
                }}
              >
                {LANGS.map((l) => <option key={l} value={l} lang={l}>{LANG_NAMES[l]}</option>)}
              </select>
            </label>
            <Button
              variant="soft"
              data-testid="theme"
              aria-label={`${t("theme")}: ${theme === "dark" ? t("dark") : t("light")}`}
              onClick={async () => {
                await savePrefs({ theme: theme === "dark" ? "light" : "dark" });
                router.refresh();
              }}
            >
              {theme === "dark" ? "☾" : "☀"} {theme === "dark" ? t("dark") : t("light")}
            </Button>
            <Button variant="outline" onClick={() => signOut({ callbackUrl: "/signin" })}>{t("signOut")}</Button>
          </Flex>
        </Flex>
      </header>
      <main id="main" className="content">{children}</main>
    </div>
  );
}
