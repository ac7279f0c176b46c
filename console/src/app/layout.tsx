import "@radix-ui/themes/styles.css";
import "./globals.css";
import { Theme } from "@radix-ui/themes";
import type { Metadata } from "next";
import { dirOf } from "@/lib/i18n";
import { prefs } from "@/lib/page";

export const metadata: Metadata = { title: "aionOS console", description: "Tasks, routing, policies, modules and usage of aionOS" };

export default async function RootLayout({ children }: { children: React.ReactNode }) {
  const { lang, theme } = await prefs();
  return (
    <html lang={lang} dir={dirOf(lang)} className={theme} data-theme={theme}>
      <body>
        <Theme appearance={theme} accentColor="indigo" grayColor="slate" radius="large" hasBackground={false}>
          {children}
        </Theme>
      </body>
    </html>
  );
}
