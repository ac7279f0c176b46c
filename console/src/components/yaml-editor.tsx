"use client";
// CodeMirror 6 with YAML syntax, and problems (the browser's YAML check and
// the control plane's validation) shown at their lines.
import { useEffect, useRef } from "react";
import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { yaml } from "@codemirror/lang-yaml";
import { oneDark } from "@codemirror/theme-one-dark";
import { type Diagnostic, lintGutter, setDiagnostics } from "@codemirror/lint";
import type { PolicyLocation } from "@/lib/api/types";
import { yamlProblems } from "@/lib/yaml-check";

interface Props {
  file: string;
  value: string;
  readOnly: boolean;
  problems: PolicyLocation[];
  onChange: (text: string) => void;
  dark: boolean;
  label: string;
}

function toDiagnostics(view: EditorView, probs: PolicyLocation[]): Diagnostic[] {
  const doc = view.state.doc;
  return probs.map((p) => {
    const line = doc.line(Math.min(Math.max(p.line, 1), doc.lines));
    return { from: line.from, to: Math.max(line.from, line.to), severity: "error", message: p.message };
  });
}

export function YamlEditor({ file, value, readOnly, problems, onChange, dark, label }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const serverProblems = useRef<PolicyLocation[]>(problems);
  const change = useRef(onChange);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  // the browser's YAML check and the control plane's problems, at their lines
  const refresh = (v: EditorView) =>
    v.dispatch(setDiagnostics(v.state, toDiagnostics(v, [...yamlProblems(file, v.state.doc.toString()), ...serverProblems.current])));
  change.current = onChange;

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          basicSetup,
          yaml(),
          lintGutter(),
          EditorState.readOnly.of(readOnly),
          EditorView.editable.of(!readOnly),
          ...(dark ? [oneDark] : []),
          EditorView.contentAttributes.of({ "aria-label": label, "data-testid": "yaml-editor" }),
          EditorView.updateListener.of((u) => {
            if (!u.docChanged) return;
            change.current(u.state.doc.toString());
            if (timer.current) clearTimeout(timer.current);
            timer.current = setTimeout(() => view.current && refresh(view.current), 250);
          }),
        ],
      }),
    });
    // the scrolling frame is reachable by keyboard too (axe: scrollable-region-focusable)
    v.scrollDOM.tabIndex = 0;
    v.scrollDOM.setAttribute("aria-label", label);
    view.current = v;
    refresh(v);
    return () => {
      if (timer.current) clearTimeout(timer.current);
      v.destroy();
    };
    // a new editor per file; `value` is the text the file was opened with
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [file, readOnly, dark]);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);

  useEffect(() => {
    serverProblems.current = problems;
    if (view.current) refresh(view.current);
  }, [problems]);

  return <div className="editor" ref={host} />;
}
