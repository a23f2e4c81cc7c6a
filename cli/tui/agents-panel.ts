/** The agents panel (`a`): name, labels, slots used/total, CPU, memory, last heartbeat, draining. */
import { createElement as h, type ReactElement } from "react";
import { Box, Text } from "ink";
import type { Agent } from "../../proto/gen/hodei/v1/control.js";
import { AGENT_STYLE, printable } from "./style.js";
import { ago, bytes, fit, fitRight } from "./text.js";

export function AgentsPanel(props: { agents: Agent[]; width: number; height: number; now: number; color: boolean }): ReactElement {
  const labelsW = Math.max(6, props.width - 16 - 7 - 6 - 16 - 10 - 6 - 8);
  const line = (a: Agent): string =>
    [
      fit(printable(a.name), 16),
      fit(printable(Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(",")) || "-", labelsW),
      fitRight(`${a.running}/${a.slots}`, 7),
      fitRight(`${Math.round(a.cpuPercent)}%`, 5),
      fitRight(a.memoryTotalBytes ? `${bytes(a.memoryUsedBytes)}/${bytes(a.memoryTotalBytes)}` : "-", 15),
      fit(ago(a.lastSeenMs, props.now), 9),
      a.state === "draining" ? "draining" : "",
    ].join(" ");
  const rows = props.agents.slice(0, Math.max(0, props.height - 2));
  return h(
    Box,
    { flexDirection: "column", height: props.height, borderStyle: "single", borderTop: true, borderBottom: false, borderLeft: false, borderRight: false },
    h(Text, { bold: true, wrap: "truncate" }, `  ${fit("AGENT", 16)} ${fit("LABELS", labelsW)} ${fitRight("SLOTS", 7)} ${fitRight("CPU", 5)} ${fitRight("MEMORY", 15)} ${fit("HEARTBEAT", 9)}`),
    ...rows.map((a) => {
      const st = AGENT_STYLE[a.state] ?? { symbol: "?", color: "white" };
      return h(Box, { key: a.id }, h(Text, { color: props.color ? st.color : undefined }, `${st.symbol} `), h(Text, { wrap: "truncate" }, line(a)));
    }),
    props.agents.length === 0 ? h(Text, { dimColor: true }, "no agents") : null,
  );
}
