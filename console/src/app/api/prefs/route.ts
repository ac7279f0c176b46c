// Language and theme, kept in plain cookies so the server renders the page
// with the right lang, dir and colours from the first byte.
import { isLang } from "@/lib/i18n";
import { NextResponse } from "next/server";

export async function POST(req: Request) {
  const b = (await req.json().catch(() => ({}))) as { lang?: unknown; theme?: unknown };
  const res = NextResponse.json({ ok: true });
  const opts = { path: "/", maxAge: 365 * 86400, sameSite: "lax" as const };
  if (isLang(b.lang)) res.cookies.set("lang", b.lang, opts);
  if (b.theme === "light" || b.theme === "dark") res.cookies.set("theme", b.theme, opts);
  return res;
}
