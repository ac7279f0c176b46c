import { TaskView } from "@/components/task-view";
import { requireUser } from "@/lib/page";
import { can } from "@/lib/roles";

export const dynamic = "force-dynamic";

export default async function TaskPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const me = await requireUser();
  return <TaskView id={id} canCancel={can(me.roles, "cancel")} />;
}
