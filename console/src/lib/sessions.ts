// The server-side half of a console session: the API key lives here, in the
// console's server process, keyed by a random session id. The browser's
// (encrypted, httpOnly) session cookie carries only that id, roles and tenant.
import { randomBytes } from "node:crypto";
import type { Role } from "./api/types";

export interface ServerSession {
  apiKey: string;
  keyId: string;
  roles: Role[];
  tenant: string;
  /** sent as X-Tenant-Id (an admin key bound to no tenant, in multi-tenant mode) */
  tenantHeader?: string;
  expiresAt: number;
}

const TTL_MS = 12 * 3600 * 1000;
const store: Map<string, ServerSession> =
  ((globalThis as Record<string, unknown>).__aionSessions as Map<string, ServerSession> | undefined) ??
  ((globalThis as Record<string, unknown>).__aionSessions = new Map<string, ServerSession>());

export function createSession(s: Omit<ServerSession, "expiresAt">): string {
  const sid = randomBytes(24).toString("base64url");
  store.set(sid, { ...s, expiresAt: Date.now() + TTL_MS });
  if (store.size > 10000) for (const [k, v] of store) if (v.expiresAt < Date.now()) store.delete(k);
  return sid;
}
export function lookupSession(sid: string | undefined): ServerSession | undefined {
  if (!sid) return undefined;
  const s = store.get(sid);
  if (!s) return undefined;
  if (s.expiresAt < Date.now()) {
    store.delete(sid);
    return undefined;
  }
  return s;
}
export function dropSession(sid: string | undefined): void {
  if (sid) store.delete(sid);
}
