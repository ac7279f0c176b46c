import type { Role } from "./api/types";

export type Action = "submit" | "cancel" | "decide" | "viewPolicies" | "editPolicies" | "viewModules" | "toggleModules" | "viewUsage";

const ALLOWED: Record<Action, Role[]> = {
  submit: ["admin", "manager", "user"],
  cancel: ["admin", "manager", "user"],
  decide: ["admin", "manager"],
  viewPolicies: ["admin", "manager"],
  editPolicies: ["admin"],
  viewModules: ["admin", "manager"],
  toggleModules: ["admin"],
  viewUsage: ["admin", "manager"],
};

/** Whether roles allow an action in the console (aionOS checks again). */
export function can(roles: readonly Role[] | undefined, action: Action): boolean {
  return !!roles?.some((r) => ALLOWED[action].includes(r));
}
