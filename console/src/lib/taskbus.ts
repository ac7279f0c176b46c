// Tasks submitted through this console server, announced to the live task
// lists of the same tenant (the gateway has no tenant-wide feed).
type Listener = (taskId: string) => void;
const g = globalThis as Record<string, unknown>;
const listeners: Map<string, Set<Listener>> = (g.__aionTaskBus as Map<string, Set<Listener>> | undefined) ?? (g.__aionTaskBus = new Map());

export function announce(tenant: string, taskId: string): void {
  for (const l of listeners.get(tenant) ?? []) l(taskId);
}
export function listen(tenant: string, l: Listener): () => void {
  let set = listeners.get(tenant);
  if (!set) listeners.set(tenant, (set = new Set()));
  set.add(l);
  return () => {
    set.delete(l);
  };
}
