// Where the console's server finds aionOS. The NEXT_PUBLIC_* names are the
// seed's; the console only calls them from its server, so AION_* overrides
// (e.g. a compose service name) may differ from what a browser could reach.
export function gatewayUrl(): string {
  return process.env.AION_GATEWAY_URL || process.env.NEXT_PUBLIC_GATEWAY_URL || "http://localhost:8080";
}
export function controlUrl(): string {
  return process.env.AION_CONTROL_URL || process.env.NEXT_PUBLIC_CONTROL_URL || "http://localhost:8000";
}
export function googleConfigured(): boolean {
  return !!(process.env.GOOGLE_CLIENT_ID && process.env.GOOGLE_CLIENT_SECRET);
}
/** AION_CONSOLE_GOOGLE_KEYS="alice@example.com=key1,bob@example.com=key2": the aionOS key each Google account acts with. */
export function googleKeyFor(email: string | null | undefined): string | undefined {
  if (!email) return undefined;
  for (const pair of (process.env.AION_CONSOLE_GOOGLE_KEYS ?? "").split(",")) {
    const i = pair.indexOf("=");
    if (i > 0 && pair.slice(0, i).trim().toLowerCase() === email.toLowerCase()) return pair.slice(i + 1).trim();
  }
  return undefined;
}
