/**
 * How a state looks, in one place: a colour and a symbol, so the table reads
 * the same without colour (NO_COLOR, a monochrome terminal).
 */
export interface StateStyle {
  symbol: string;
  color: string;
}

export const STATE_STYLE: Readonly<Record<string, StateStyle>> = {
  queued: { symbol: "○", color: "gray" },
  assigned: { symbol: "◔", color: "cyan" },
  running: { symbol: "●", color: "blue" },
  succeeded: { symbol: "✔", color: "green" },
  failed: { symbol: "✖", color: "red" },
  cancelled: { symbol: "⊘", color: "yellow" },
  timed_out: { symbol: "⧗", color: "magenta" },
};

export const styleOf = (state: string): StateStyle => STATE_STYLE[state] ?? { symbol: "?", color: "white" };

/** The order states are counted in the header and cycled by `s`. */
export const STATES = ["queued", "assigned", "running", "succeeded", "failed", "cancelled", "timed_out"] as const;

export const AGENT_STYLE: Readonly<Record<string, StateStyle>> = {
  connected: { symbol: "●", color: "green" },
  draining: { symbol: "◐", color: "yellow" },
  disconnected: { symbol: "○", color: "gray" },
};

/** Agent- and job-supplied text is shown with control characters escaped (never the log bytes: those go through the terminal model). */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
