// Where the console's server finds aionOS: NEXT_PUBLIC_GATEWAY_URL and
// NEXT_PUBLIC_CONTROL_URL (the seed's names). Only the console's server calls
// them, so they may be names only the server resolves (http://gateway:8080 in
// Compose). Read at run time, not inlined at build time (computed names).
function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === "" ? undefined : v;
}
export function gatewayUrl(): string {
  return env(["NEXT_PUBLIC", "GATEWAY_URL"].join("_")) ?? "http://localhost:8080";
}
export function controlUrl(): string {
  return env(["NEXT_PUBLIC", "CONTROL_URL"].join("_")) ?? "http://localhost:8000";
}
export function googleConfigured(): boolean {
  return !!(env("GOOGLE_CLIENT_ID") && env("GOOGLE_CLIENT_SECRET"));
}
/** AION_CONSOLE_GOOGLE_KEYS="alice@example.com=key1,bob@example.com=key2": the aionOS key each Google account acts with. */
export function googleKeyFor(email: string | null | undefined): string | undefined {
  if (!email) return undefined;
  for (const pair of (env("AION_CONSOLE_GOOGLE_KEYS") ?? "").split(",")) {
    const i = pair.indexOf("=");
    if (i > 0 && pair.slice(0, i).trim().toLowerCase() === email.toLowerCase()) return pair.slice(i + 1).trim();
  }
  return undefined;
}
