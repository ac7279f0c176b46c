"use client";
import { useEffect, useState } from "react";
import Link from "next/link";
import { Badge, Card, Flex, Heading, Text } from "@radix-ui/themes";
import type { Task } from "@/lib/api/types";
import { formatDateTime, formatUsd } from "@/lib/i18n";
import { usePrefs, useT } from "./prefs";

/** Newest first, one row per task; `t` replaces the row of the same id. */
export function upsertTask(list: Task[], t: Task): Task[] {
  const rest = list.filter((x) => x.taskId !== t.taskId);
  return [t, ...rest].sort((a, b) => (a.taskId < b.taskId ? 1 : a.taskId > b.taskId ? -1 : 0)).slice(0, 50);
}

export function LiveTasks() {
  const t = useT();
  const { lang } = usePrefs();
  const [tasks, setTasks] = useState<Task[]>([]);
  const [state, setState] = useState<"connecting" | "live" | "reconnecting">("connecting");
  useEffect(() => {
    const es = new EventSource("/api/tasks/live");
    es.addEventListener("open", () => setState("live"));
    es.addEventListener("error", () => setState("reconnecting"));
    es.addEventListener("snapshot", (e) => setTasks(JSON.parse((e as MessageEvent<string>).data) as Task[]));
    es.addEventListener("task", (e) => {
      const task = JSON.parse((e as MessageEvent<string>).data) as Task;
      setTasks((list) => upsertTask(list, task));
    });
    return () => es.close();
  }, []);
  return (
    <Card className="glass panel" asChild>
      <section aria-labelledby="live-h">
        <Flex justify="between" align="center" mb="3">
          <Heading as="h2" size="5" id="live-h">{t("liveTasks")}</Heading>
          <Badge color={state === "live" ? "green" : "amber"} data-testid="live-state">{state === "live" ? t("live") : t("reconnecting")}</Badge>
        </Flex>
        {tasks.length === 0 ? (
          <Text color="gray">{t("noTasks")}</Text>
        ) : (
          <table className="data" data-testid="task-list">
            <thead>
              <tr><th scope="col">{t("task")}</th><th scope="col">{t("intent")}</th><th scope="col">{t("status")}</th><th scope="col">{t("created")}</th><th scope="col">{t("cost")}</th></tr>
            </thead>
            <tbody>
              {tasks.map((x) => (
                <tr key={x.taskId} data-task={x.taskId}>
                  <td><Link href={`/tasks/${x.taskId}`} className="mono" dir="ltr">{x.taskId.slice(0, 14)}…</Link></td>
                  <td>{x.intent}</td>
                  <td className={`status-${x.status}`} data-testid="task-status">{x.status}</td>
                  <td>{formatDateTime(lang, x.timings?.createdAt)}</td>
                  <td>{x.cost ? formatUsd(lang, x.cost.usd) : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </Card>
  );
}
