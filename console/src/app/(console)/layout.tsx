import { PrefsProvider } from "@/components/prefs";
import { Shell } from "@/components/shell";
import { prefs, requireUser } from "@/lib/page";

export const dynamic = "force-dynamic";

export default async function ConsoleLayout({ children }: { children: React.ReactNode }) {
  const me = await requireUser();
  const p = await prefs();
  return (
    <PrefsProvider value={{ ...p, roles: me.roles, tenant: me.tenant }}>
      <Shell>{children}</Shell>
    </PrefsProvider>
  );
}
