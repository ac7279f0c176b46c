import { SubmitForm } from "@/components/submit-form";
import { LiveTasks } from "@/components/live-tasks";
import type { Intent } from "@/lib/api/types";
import { requireUser } from "@/lib/page";
import { can } from "@/lib/roles";

export const dynamic = "force-dynamic";

export default async function TasksPage() {
  const me = await requireUser();
  let intents: Intent[] = [];
  let problem = "";
  try {
    intents = (await me.control.intents()).items;
  } catch (e) {
    problem = (e as Error).message;
  }
  return (
    <div className="grid2">
      <SubmitForm intents={intents} canSubmit={can(me.roles, "submit")} problem={problem} />
      <LiveTasks />
    </div>
  );
}
