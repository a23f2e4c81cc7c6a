/** The header: counts per state (symbol and number) and runs finished per minute over the last hour. */
import { createElement as h, type ReactElement } from "react";
import { Box, Text } from "ink";
import { sparkline } from "./model.js";
import { STATES, styleOf } from "./style.js";

export function Header(props: { counts: Record<string, number>; perMinute: number[]; width: number; color: boolean; filter: string; stateFilter: string }): ReactElement {
  const parts = STATES.filter((s) => props.counts[s] || ["queued", "running"].includes(s)).map((s) => ({ s, text: `${styleOf(s).symbol} ${props.counts[s] ?? 0} ${s}` }));
  const filters = [props.stateFilter && `state=${props.stateFilter}`, props.filter && `/${props.filter}`].filter(Boolean).join(" ");
  const lead = filters ? `filter: ${filters} · ` : "";
  // Narrow terminals get the last minutes only.
  const spark = sparkline(props.perMinute.slice(-Math.max(5, Math.min(60, props.width - lead.length - 20))));
  return h(
    Box,
    { flexDirection: "column" },
    h(
      Box,
      { flexWrap: "wrap", columnGap: 2 },
      h(Text, { bold: true }, "hodei watch"),
      ...parts.map((p) => h(Text, { key: p.s, color: props.color ? styleOf(p.s).color : undefined }, p.text)),
    ),
    h(Text, { wrap: "truncate" }, `${lead}done/min ${spark}`),
  );
}
