// NextAuth: an API-key sign-in checked against the gateway, and Google
// (GOOGLE_CLIENT_ID/SECRET) for accounts mapped to a key. The key stays in
// the server-side session store (sessions.ts).
import type { NextAuthOptions, User } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import GoogleProvider from "next-auth/providers/google";
import { ControlClient, GatewayClient } from "./api/client";
import type { Role } from "./api/types";
import { controlUrl, gatewayUrl, googleKeyFor } from "./config";
import { createSession, dropSession } from "./sessions";

interface ConsoleUser extends User { sid: string; roles: Role[]; tenant: string }

/** Checks a key with the gateway (it must be accepted there) and reads its roles and tenant. */
export async function checkKey(apiKey: string, tenant?: string): Promise<{ roles: Role[]; tenant: string; keyId: string } | null> {
  if (!apiKey || apiKey.length > 512) return null;
  const gw = new GatewayClient({ url: gatewayUrl(), apiKey, tenant });
  try {
    await gw.list({ limit: 1 });
  } catch (e) {
    const status = (e as { status?: number }).status;
    if (status === 401 || status === 403) return null;
    throw e;
  }
  const who = await new ControlClient({ url: controlUrl(), apiKey, tenant }).whoami();
  return { roles: who.roles, tenant: who.tenant, keyId: who.keyId };
}

async function sessionFor(apiKey: string, name: string, tenant?: string): Promise<ConsoleUser | null> {
  const who = await checkKey(apiKey, tenant);
  if (!who) return null;
  const sid = createSession({ apiKey, keyId: who.keyId, roles: who.roles, tenant: who.tenant, tenantHeader: tenant });
  return { id: sid, sid, name, roles: who.roles, tenant: who.tenant };
}

function providers(): NextAuthOptions["providers"] {
  const list: NextAuthOptions["providers"] = [
    CredentialsProvider({
      id: "apikey",
      name: "API key",
      credentials: { apiKey: { label: "API key", type: "password" }, tenant: { label: "Tenant", type: "text" } },
      async authorize(credentials) {
        const key = credentials?.apiKey?.trim() ?? "";
        const tenant = credentials?.tenant?.trim() || undefined;
        return sessionFor(key, "key " + key.slice(0, 4) + "…", tenant);
      },
    }),
  ];
  if (process.env.GOOGLE_CLIENT_ID && process.env.GOOGLE_CLIENT_SECRET) {
    // Google's endpoints spelled out instead of its discovery document, so
    // the sign-in redirect needs no request to Google from this server.
    list.push(
      GoogleProvider({
        clientId: process.env.GOOGLE_CLIENT_ID,
        clientSecret: process.env.GOOGLE_CLIENT_SECRET,
        wellKnown: undefined,
        issuer: "https://accounts.google.com",
        authorization: { url: "https://accounts.google.com/o/oauth2/v2/auth", params: { scope: "openid email profile" } },
        token: "https://oauth2.googleapis.com/token",
        userinfo: "https://openidconnect.googleapis.com/v1/userinfo",
        jwks_endpoint: "https://www.googleapis.com/oauth2/v3/certs",
      }),
    );
  }
  return list;
}

export const authOptions: NextAuthOptions = {
  providers: providers(),
  session: { strategy: "jwt", maxAge: 12 * 3600 },
  pages: { signIn: "/signin", error: "/signin" },
  callbacks: {
    async signIn({ user, account }) {
      if (account?.provider !== "google") return true;
      const key = googleKeyFor(user.email);
      if (!key) return "/signin?error=AccessDenied";
      const s = await sessionFor(key, user.email ?? "google");
      if (!s) return "/signin?error=AccessDenied";
      Object.assign(user, { sid: s.sid, roles: s.roles, tenant: s.tenant });
      return true;
    },
    async jwt({ token, user }) {
      if (user) {
        const u = user as Partial<ConsoleUser>;
        token.sid = u.sid;
        token.roles = u.roles;
        token.tenant = u.tenant;
      }
      return token;
    },
    async session({ session, token }) {
      // roles and tenant for the page; never the key nor the session id
      session.user = { name: token.name ?? null, email: token.email ?? null, image: null };
      (session as unknown as { roles: unknown }).roles = token.roles ?? [];
      (session as unknown as { tenant: unknown }).tenant = token.tenant ?? "";
      return session;
    },
  },
  events: {
    async signOut({ token }) {
      dropSession(token?.sid as string | undefined);
    },
  },
};
