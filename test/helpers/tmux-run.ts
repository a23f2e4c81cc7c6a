/**
 * A real terminal for tests: a command run in a detached tmux session of a
 * given size (its own tmux server, so nothing else is touched), and what the
 * screen showed, as text (wrapped lines joined, so an over-wide line shows)
 * and whether any escape sequence (colour) was on it.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface Screen {
  /** The screen and its scrollback, lines joined where the terminal wrapped them. */
  text: string;
  /** The same with tmux's SGR escapes (capture-pane -e). */
  raw: string;
  escapes: boolean;
  /** The command's exit status. */
  code: number;
}

export class Tmux {
  readonly socket = `hodei-test-${process.pid}-${randomBytes(3).toString("hex")}`;
  private readonly sessions: string[] = [];

  tmux(...args: string[]): string {
    return execFileSync("tmux", ["-L", this.socket, ...args], { encoding: "utf8" });
  }

  /** Starts `command` (a shell line) in a new session WIDTH×HEIGHT; returns its name. */
  start(command: string, opts: { width?: number; height?: number } = {}): string {
    const name = `s${this.sessions.length}`;
    // The marker line tells the test the command ended and how; the pane stays until killed.
    const line = `${command}; printf '\\n__END__%s\\n' $?; sleep 600`;
    this.tmux("new-session", "-d", "-s", name, "-x", String(opts.width ?? 120), "-y", String(opts.height ?? 40), "sh", "-c", line);
    this.sessions.push(name);
    return name;
  }

  capture(name: string, withEscapes = false): string {
    return this.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", name, ...(withEscapes ? ["-e"] : []));
  }

  /** Polls the screen until `predicate` holds (bounded, so a broken test ends). */
  async waitFor(name: string, predicate: (text: string) => boolean, what: string, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.capture(name);
      if (predicate(text)) return text;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the screen:\n${text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits for the command to end; the screen without the marker line. */
  async finish(name: string, timeoutMs = 120_000): Promise<Screen> {
    const text = await this.waitFor(name, (t) => /__END__\d+/.test(t), "the command to end", timeoutMs);
    const code = Number(/__END__(\d+)/.exec(text)![1]);
    const raw = this.capture(name, true);
    const strip = (s: string): string => s.replace(/\n?__END__\d+[\s\S]*$/, "").replace(/\n+$/, "");
    return { text: strip(text), raw: strip(raw), escapes: strip(raw).includes("\x1b["), code };
  }

  kill(): void {
    try {
      this.tmux("kill-server");
    } catch {
      // already gone
    }
  }
}

/** Runs `command` in a fresh terminal WIDTH wide and returns what it showed. */
export async function tmuxRun(command: string, opts: { width?: number; height?: number } = {}): Promise<Screen> {
  const t = new Tmux();
  try {
    return await t.finish(t.start(command, opts));
  } finally {
    t.kill();
  }
}
