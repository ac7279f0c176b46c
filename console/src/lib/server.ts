// Server-only helpers: the signed-in user's clients and role checks.
import { getToken } from "next-auth/jwt";
import { cookies } from "next/headers";
import { ControlClient, GatewayClient } from "./api/client";
import type { Role } from "./api/types";
import { controlUrl, gatewayUrl } from "./config";
import { lookupSession } from "./sessions";

export interface Current { roles: Role[]; tenant: string; keyId: string; gateway: GatewayClient; control: ControlClient }

export async function current(): Promise<Current | null> {
  const jar = await cookies();
  const all: Record<string, string> = {};
  for (const c of jar.getAll()) all[c.name] = c.value;
  const token = await getToken({ req: { cookies: all, headers: {} } as never, secret: process.env.NEXTAUTH_SECRET });
  const s = lookupSession(token?.sid as string | undefined);
  if (!s) return null;
  const base = { apiKey: s.apiKey, tenant: s.tenantHeader };
  return {
    roles: s.roles,
    tenant: s.tenant,
    keyId: s.keyId,
    gateway: new GatewayClient({ url: gatewayUrl(), ...base }),
    control: new ControlClient({ url: controlUrl(), ...base }),
  };
}
