/**
 * A spinner for anything that waits: "waiting for an agent", "syncing
 * repository web". Only on stderr, only when stderr is a terminal and not
 * with --json, and only after a second (a quick answer shows nothing); it
 * redraws one line in place and erases it when done, so it never mixes with
 * data on stdout nor lands in a log file.
 */
import { useColor } from "./format.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface Spinner {
  /** Changes the text (shown at the next frame). */
  update(text: string): void;
  /** Erases the line; the spinner is done. */
  stop(): void;
}

const NONE: Spinner = { update: () => {}, stop: () => {} };

export function spinner(text: string, opts: { enabled?: boolean; delayMs?: number; stream?: NodeJS.WriteStream } = {}): Spinner {
  const out = opts.stream ?? process.stderr;
  if (!(opts.enabled ?? true) || !out.isTTY) return NONE;
  let current = text;
  let frame = 0;
  let drawn = false;
  const color = useColor(out);
  const draw = (): void => {
    const width = Math.max(10, (out.columns || 80) - 1);
    const line = `${FRAMES[frame++ % FRAMES.length]} ${current}`.slice(0, width);
    out.write(`\r\x1b[2K${color ? `\x1b[36m${line}\x1b[0m` : line}`);
    drawn = true;
  };
  let timer: NodeJS.Timeout | undefined;
  const delay = setTimeout(() => {
    draw();
    timer = setInterval(draw, 100);
    timer.unref();
  }, opts.delayMs ?? 1000);
  delay.unref();
  return {
    update: (t) => void (current = t),
    stop: () => {
      clearTimeout(delay);
      if (timer) clearInterval(timer);
      if (drawn) out.write("\r\x1b[2K");
      drawn = false;
    },
  };
}

/** Runs `work` with a spinner saying `text`. */
export async function withSpinner<T>(text: string, work: Promise<T>, opts: { enabled?: boolean } = {}): Promise<T> {
  const s = spinner(text, opts);
  try {
    return await work;
  } finally {
    s.stop();
  }
}
