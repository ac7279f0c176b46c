// What every page's server side reads: the session and the preferences.
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { isLang, type Lang } from "./i18n";
import { current, type Current } from "./server";

export async function prefs(): Promise<{ lang: Lang; theme: "light" | "dark" }> {
  const jar = await cookies();
  const l = jar.get("lang")?.value;
  return { lang: isLang(l) ? l : "en", theme: jar.get("theme")?.value === "dark" ? "dark" : "light" };
}

export async function requireUser(): Promise<Current> {
  const me = await current();
  if (!me) redirect("/signin");
  return me;
}
