/**
 * The runs table: only the rows that fit are rendered (a window around the
 * selection), so 10,000 runs cost what 40 do. Columns drop out as the
 * terminal narrows; the status keeps its symbol when colour is off.
 */
import { createElement as h, type ReactElement } from "react";
import { Box, Text } from "ink";
import type { Run } from "../../proto/gen/hodei/v1/control.js";
import { runDuration } from "./model.js";
import { printable, styleOf } from "./style.js";
import { fit, fitRight } from "./text.js";

interface Column {
  title: string;
  width: number;
  right?: boolean;
  value: (r: Run, now: number) => string;
}

const triggerOf = (r: Run): string => {
  const t = r.trigger;
  if (!t) return "manual";
  return `${t.event}${t.commit ? ` ${t.commit.slice(0, 7)}` : ""}`;
};

const repoOrSource = (r: Run): string => printable(r.trigger?.repo || r.source || "");

/** The columns for a terminal `width` wide (the status column comes first, always). */
export function columnsFor(width: number): Column[] {
  const id: Column = { title: "ID", width: 6, right: true, value: (r) => r.id };
  const dur: Column = { title: "TIME", width: 7, right: true, value: (r, now) => runDuration(r, now) };
  const att: Column = { title: "ATT", width: 3, right: true, value: (r) => String(r.attempt) };
  const agent: Column = { title: "AGENT", width: 12, value: (r) => printable(r.agentName || "-") };
  const trig: Column = { title: "TRIGGER", width: 14, value: triggerOf };
  const status = 14;
  if (width < 60) {
    const job = Math.max(6, width - status - id.width - dur.width - 3);
    return [id, { title: "JOB", width: job, value: (r) => printable(r.jobName) }, dur];
  }
  if (width < 100) {
    const job = Math.max(8, width - status - id.width - trig.width - att.width - dur.width - 5);
    return [id, { title: "JOB", width: job, value: (r) => printable(r.jobName) }, trig, att, dur];
  }
  const flex = width - status - id.width - trig.width - agent.width - att.width - dur.width - 7;
  const job = Math.max(10, Math.floor(flex * 0.5));
  const repo = Math.max(8, flex - job);
  return [id, { title: "JOB", width: job, value: (r) => printable(r.jobName) }, { title: "REPO/SOURCE", width: repo, value: repoOrSource }, trig, agent, att, dur];
}

const cells = (cols: Column[], r: Run, now: number): string => cols.map((c) => (c.right ? fitRight(c.value(r, now), c.width) : fit(c.value(r, now), c.width))).join(" ");

export function RunsTable(props: { runs: Run[]; selected: number; top: number; height: number; width: number; now: number; color: boolean }): ReactElement {
  const cols = columnsFor(props.width);
  const header = `  ${fit("STATUS", 12)} ${cols.map((c) => (c.right ? fitRight(c.title, c.width) : fit(c.title, c.width))).join(" ")}`;
  const rows = props.runs.slice(props.top, props.top + Math.max(0, props.height - 1));
  return h(
    Box,
    { flexDirection: "column", height: props.height },
    h(Text, { bold: true, wrap: "truncate" }, fit(header, props.width)),
    ...rows.map((r, i) => {
      const st = styleOf(r.state);
      const sel = props.top + i === props.selected;
      const status = fit(`${st.symbol} ${r.state}`, 12);
      // The selection shows as a marker too (readable without inverse video).
      return h(
        Box,
        { key: r.id },
        h(Text, { bold: sel }, sel ? "› " : "  "),
        h(Text, { color: props.color ? st.color : undefined, inverse: sel, wrap: "truncate" }, status),
        h(Text, { inverse: sel, wrap: "truncate" }, fit(` ${cells(cols, r, props.now)}`, props.width - 14)),
      );
    }),
    props.runs.length === 0 ? h(Text, { dimColor: true }, "no runs match") : null,
  );
}
