import { PrefsProvider } from "@/components/prefs";
import { SignInForm } from "@/components/signin-form";
import { googleConfigured } from "@/lib/config";
import { prefs } from "@/lib/page";

export const dynamic = "force-dynamic";

export default async function SignIn({ searchParams }: { searchParams: Promise<{ error?: string }> }) {
  const p = await prefs();
  const { error } = await searchParams;
  return (
    <PrefsProvider value={{ ...p, roles: [], tenant: "" }}>
      <main id="main" className="signin">
        <SignInForm google={googleConfigured()} error={error} />
      </main>
    </PrefsProvider>
  );
}
