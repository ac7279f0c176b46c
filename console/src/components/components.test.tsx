import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Intent } from "@/lib/api/types";
import { PrefsProvider } from "./prefs";
import { RouteTable } from "./route-table";
import { SubmitForm } from "./submit-form";
import { upsertTask } from "./live-tasks";
import { routeCandidates } from "./task-view";

vi.mock("next/navigation", () => ({ useRouter: () => ({ push: vi.fn(), refresh: vi.fn() }), usePathname: () => "/tasks" }));
afterEach(cleanup);

const summarize: Intent = {
  name: "summarize", description: "", privacy: "local-only", roles: "admin|manager|user", canSubmit: true, timeoutMs: 1000,
  paramsSchema: { type: "object", required: ["text"], properties: { text: { type: "string" } } },
  candidates: [{ kind: "module", target: "summarize", explicit: false }],
};

function wrap(ui: React.ReactNode, lang: "en" | "ar" = "en") {
  return render(<PrefsProvider value={{ lang, theme: "light", roles: ["admin"], tenant: "default" }}>{ui}</PrefsProvider>);
}

describe("SubmitForm", () => {
  it("checks params against the intent's schema before sending", () => {
    wrap(<SubmitForm intents={[summarize]} canSubmit />);
    const params = screen.getByLabelText("Params (JSON)");
    fireEvent.change(params, { target: { value: "{}" } });
    expect(screen.getByText("params.text: is required")).toBeTruthy();
    expect((screen.getByTestId("submit") as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(params, { target: { value: "{oops" } });
    expect(screen.getByTestId("params-errors").textContent).toMatch(/not valid JSON/);
    fireEvent.change(params, { target: { value: '{"text":"hi"}' } });
    expect((screen.getByTestId("submit") as HTMLButtonElement).disabled).toBe(false);
  });
  it("cannot submit for a viewer", () => {
    wrap(<SubmitForm intents={[{ ...summarize, canSubmit: false }]} canSubmit={false} />);
    fireEvent.change(screen.getByLabelText("Params (JSON)"), { target: { value: '{"text":"hi"}' } });
    expect((screen.getByTestId("submit") as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText("Your role can view but not change this.")).toBeTruthy();
  });
});

describe("RouteTable", () => {
  it("shows every candidate, kept or dropped, with its reason, in the chosen language", () => {
    wrap(<RouteTable candidates={[{ kind: "module", target: "a", kept: true, reason: "" }, { kind: "model", target: "b", kept: false, reason: "over budget" }]} />, "ar");
    const rows = screen.getAllByRole("row").slice(1);
    expect(rows.map((r) => r.getAttribute("data-kept"))).toEqual(["true", "false"]);
    expect(rows[1]!.textContent).toContain("over budget");
    expect(rows[1]!.textContent).toContain("مُستبعد");
  });
});

describe("task list and route helpers", () => {
  it("keeps one row per task, newest first", () => {
    const t = (id: string, status: "queued" | "succeeded") => ({ taskId: id, status, intent: "x", tenant: "d" });
    const list = upsertTask(upsertTask([t("tsk_1", "queued")], t("tsk_2", "queued")), t("tsk_1", "succeeded"));
    expect(list.map((x) => `${x.taskId}:${x.status}`)).toEqual(["tsk_2:queued", "tsk_1:succeeded"]);
  });
  it("prefers the stored route's candidates to the event's kept routes", () => {
    expect(routeCandidates(null, { routes: [{ kind: "module", target: "a" }] })).toEqual([{ kind: "module", target: "a", kept: true }]);
    const task = { taskId: "t", status: "succeeded" as const, intent: "x", tenant: "d", route: { candidates: [{ kind: "model", target: "b", kept: false, reason: "r" }] } };
    expect(routeCandidates(task, null)[0]).toMatchObject({ kept: false, reason: "r" });
  });
});
