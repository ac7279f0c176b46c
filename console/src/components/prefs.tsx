"use client";
import { createContext, useContext } from "react";
import { MESSAGES, type Lang, type Messages } from "@/lib/i18n";
import type { Role } from "@/lib/api/types";

interface Prefs { lang: Lang; theme: "light" | "dark"; roles: Role[]; tenant: string }
const Ctx = createContext<Prefs>({ lang: "en", theme: "light", roles: [], tenant: "" });

export function PrefsProvider({ value, children }: { value: Prefs; children: React.ReactNode }) {
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}
export function usePrefs(): Prefs {
  return useContext(Ctx);
}
export function useT(): (k: keyof Messages) => string {
  const { lang } = usePrefs();
  return (k) => MESSAGES[lang][k];
}
