"use client";
// One task, its events streamed as they happen (SSE through the console's
// server). Events seen are kept in sessionStorage, so a reload shows them at
// once and resumes the stream after the last one (Last-Event-ID).
import { memo, useEffect, useReducer, useRef, useState } from "react";
import { Badge, Button, Callout, Card, Flex, Heading, Text } from "@radix-ui/themes";
import type { Candidate, Task, TaskEvent } from "@/lib/api/types";
import { EVENT_TYPES, INITIAL, fold } from "@/lib/events";
import { type Lang, formatDateTime, formatMs, formatUsd } from "@/lib/i18n";
import { usePrefs, useT } from "./prefs";
import { RouteTable } from "./route-table";

type Action = { type: "event"; e: TaskEvent } | { type: "reset"; events: TaskEvent[] };
interface View { events: TaskEvent[]; state: typeof INITIAL }

function reduce(v: View, a: Action): View {
  if (a.type === "reset") return { events: a.events, state: a.events.reduce(fold, INITIAL) };
  const state = fold(v.state, a.e);
  return state === v.state ? v : { events: [...v.events, a.e], state };
}

declare global {
  interface Window {
    /** per event: gateway ts → received, → first frame after rendering (the e2e reads these) */
    __aionLatencies?: { seq: number; type: string; emitted: number; ms: number; receivedMs: number }[];
    /** when the event stream (re)opened: events emitted before it were replayed, not live */
    __aionStreamOpenedAt?: number;
  }
}

/** One event of the list; memoized: a new event renders only itself. */
const EventItem = memo(function EventItem({ e, lang }: { e: TaskEvent; lang: Lang }) {
  return (
    <li className={`type-${e.type}`} data-seq={e.seq} data-type={e.type}>
      <Text weight="bold">#{e.seq} {e.type}</Text>{" "}
      <Text size="1" color="gray">{formatDateTime(lang, e.ts)}</Text>
      {e.type !== "route" && <pre className="json mono">{JSON.stringify(e.data)}</pre>}
    </li>
  );
});

/** Every candidate with its reason (the stored task's route), else the routes the plan kept. */
export function routeCandidates(task: Task | null, plan: Record<string, unknown> | null): Candidate[] {
  const full = (task?.route as { candidates?: Candidate[] } | undefined)?.candidates;
  if (full?.length) return full;
  const routes = (plan?.routes as Candidate[] | undefined) ?? [];
  return routes.map((r) => ({ ...r, kept: true }));
}

export function TaskView({ id, canCancel }: { id: string; canCancel: boolean }) {
  const t = useT();
  const { lang } = usePrefs();
  const [view, dispatch] = useReducer(reduce, { events: [], state: INITIAL });
  const [conn, setConn] = useState<"connecting" | "live" | "reconnecting" | "closed">("connecting");
  const [task, setTask] = useState<Task | null>(null);
  const [problem, setProblem] = useState("");
  const storeKey = `aion:events:${id}`;
  const lastSeq = useRef(0);

  useEffect(() => {
    let saved: TaskEvent[] = [];
    try {
      saved = JSON.parse(sessionStorage.getItem(storeKey) ?? "[]") as TaskEvent[];
    } catch {
      saved = [];
    }
    dispatch({ type: "reset", events: saved });
    lastSeq.current = saved.at(-1)?.seq ?? 0;
    const es = new EventSource(`/api/tasks/${encodeURIComponent(id)}/events?lastEventId=${lastSeq.current}`);
    const all: TaskEvent[] = [...saved];
    const onEvent = (m: MessageEvent<string>) => {
      const e = JSON.parse(m.data) as TaskEvent;
      // gateway timestamp → on screen: taken at the first frame after this event's render
      const emitted = Date.parse(e.ts);
      const received = performance.timeOrigin + performance.now();
      requestAnimationFrame(() => {
        const shown = performance.timeOrigin + performance.now();
        (window.__aionLatencies ??= []).push({ seq: e.seq, type: e.type, emitted, ms: shown - emitted, receivedMs: received - emitted });
      });
      if (e.seq <= lastSeq.current) return;
      lastSeq.current = e.seq;
      all.push(e);
      try {
        sessionStorage.setItem(storeKey, JSON.stringify(all.slice(-500)));
      } catch {
        /* storage full: resume still works from the stream */
      }
      dispatch({ type: "event", e });
      if (e.type === "route") void refresh();
      if (e.type === "done") {
        es.close();
        setConn("closed");
        void refresh();
      }
    };
    for (const type of EVENT_TYPES) es.addEventListener(type, onEvent as EventListener);
    es.addEventListener("open", () => {
      window.__aionStreamOpenedAt = performance.timeOrigin + performance.now();
      setConn("live");
    });
    es.addEventListener("error", () => setConn(es.readyState === EventSource.CLOSED ? "closed" : "reconnecting"));
    const refresh = async () => {
      const r = await fetch(`/api/tasks/${encodeURIComponent(id)}`);
      if (r.ok) setTask((await r.json()) as Task);
    };
    void refresh();
    if (saved.at(-1)?.type === "done") {
      es.close();
      setConn("closed");
    }
    return () => es.close();
  }, [id, storeKey]);

  const s = view.state;
  const status = s.status || task?.status || "";
  const finished = s.done || ["succeeded", "failed", "canceled", "expired"].includes(task?.status ?? "");
  return (
    <div className="content">
      <Card className="glass panel">
        <Flex justify="between" align="center" wrap="wrap" gap="3">
          <Heading as="h1" size="5">{t("task")} <bdi className="mono">{id}</bdi></Heading>
          <Flex gap="3" align="center">
            <Badge size="2" color={status === "succeeded" ? "green" : finished ? "red" : "indigo"} data-testid="task-status">{status || "…"}</Badge>
            <Badge color={conn === "live" ? "green" : conn === "closed" ? "gray" : "amber"} data-testid="stream-state">
              {conn === "live" ? t("live") : conn === "closed" ? t("done") : t("reconnecting")}
            </Badge>
            {canCancel && !finished && (
              <Button
                color="red"
                variant="soft"
                data-testid="cancel"
                onClick={async () => {
                  const r = await fetch(`/api/tasks/${encodeURIComponent(id)}/cancel`, { method: "POST" });
                  if (!r.ok) setProblem(((await r.json()) as { error?: { message: string } }).error?.message ?? r.statusText);
                  else setTask((await r.json()) as Task);
                }}
              >
                {task?.cancelRequested ? t("canceling") : t("cancel")}
              </Button>
            )}
          </Flex>
        </Flex>
        {task && (
          <Text as="p" size="2" color="gray" data-testid="task-summary">
            {task.intent} · {t("created")} {formatDateTime(lang, task.timings?.createdAt)}
            {task.cost && <> · {t("cost")} {formatUsd(lang, task.cost.usd)}</>}
            {task.timings?.totalMs !== undefined && <> · {t("latency")} {formatMs(lang, task.timings.totalMs)}</>}
            {task.timings?.overheadMs !== undefined && <> · {t("overhead")} {formatMs(lang, task.timings.overheadMs)}</>}
          </Text>
        )}
        {problem && <Callout.Root color="red" role="alert"><Callout.Text>{problem}</Callout.Text></Callout.Root>}
      </Card>
      {s.plan && (
        <Card className="glass panel" asChild>
          <section aria-labelledby="route-h">
            <Heading as="h2" size="4" id="route-h" mb="2">{t("route")}</Heading>
            <RouteTable candidates={routeCandidates(task, s.plan)} />
          </section>
        </Card>
      )}
      {(s.text || s.result !== undefined || s.error !== undefined) && (
        <Card className="glass panel" asChild>
          <section aria-labelledby="result-h">
            <Heading as="h2" size="4" id="result-h" mb="2">{t("result")}</Heading>
            {s.text && <p className="delta-text" data-testid="delta-text">{s.text}</p>}
            {s.result !== undefined && <pre className="json mono" data-testid="result" tabIndex={0} aria-label={t("result")}>{JSON.stringify(s.result, null, 2)}</pre>}
            {s.error !== undefined && <pre className="json mono bad" data-testid="error" tabIndex={0} aria-label={t("error")}>{JSON.stringify(s.error, null, 2)}</pre>}
          </section>
        </Card>
      )}
      <Card className="glass panel" asChild>
        <section aria-labelledby="events-h">
          <Heading as="h2" size="4" id="events-h" mb="2">{t("events")}</Heading>
          <ol className="events" data-testid="events" aria-live="polite">
            {view.events.map((e) => <EventItem key={e.seq} e={e} lang={lang} />)}
          </ol>
        </section>
      </Card>
    </div>
  );
}
