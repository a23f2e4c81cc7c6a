/** `?`: every key. */
import { createElement as h, type ReactElement } from "react";
import { Box, Text } from "ink";

export const KEYS: [string, string][] = [
  ["↑/↓ j/k", "move (in the log: scroll a line)"],
  ["enter", "open the run's log"],
  ["/", "filter runs by text (in the log: search)"],
  ["s", "cycle the state filter"],
  ["c", "cancel the run (asks to confirm)"],
  ["r", "rerun the run"],
  ["a", "show or hide agents"],
  ["PgUp/PgDn", "scroll a page (log)"],
  ["g/G", "top of the log (loads earlier output) / bottom, following"],
  ["n/N", "next / previous match (log)"],
  ["t", "timestamps on or off (log)"],
  ["[ / ]", "previous / next attempt (log)"],
  ["esc", "back to the list, clear a filter"],
  ["?", "this help"],
  ["q, Ctrl-C", "quit"],
];

export function Help(props: { height: number }): ReactElement {
  return h(
    Box,
    { flexDirection: "column", height: props.height },
    h(Text, { bold: true }, "keys"),
    ...KEYS.map(([k, v]) => h(Text, { key: k, wrap: "truncate" }, `  ${k.padEnd(11)} ${v}`)),
    h(Text, { dimColor: true }, "press any key to close"),
  );
}
