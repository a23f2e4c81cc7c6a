/**
 * A real terminal for TUI end-to-end tests: a tmux session on a server of the
 * test's own (`-L`), so the user's tmux is never touched. `screen` is what a
 * person sees (capture-pane -p, with -e the colours as SGR sequences);
 * `waitFor` polls it until a condition holds, with a generous deadline.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export class Tmux {
  private constructor(
    private readonly socket: string,
    readonly session: string,
  ) {}

  /** A detached session `width` × `height` running `command` (a shell command line). */
  static async start(command: string, width = 120, height = 40): Promise<Tmux> {
    const t = new Tmux(`hodei-e2e-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, "w");
    await t.tmux("new-session", "-d", "-s", t.session, "-x", String(width), "-y", String(height), command);
    return t;
  }

  private async tmux(...args: string[]): Promise<string> {
    const { stdout } = await run("tmux", ["-L", this.socket, "-f", "/dev/null", ...args], { maxBuffer: 16 << 20 });
    return stdout;
  }

  /** The visible screen: plain text, or with `colors` the SGR sequences tmux draws with. */
  screen(colors = false): Promise<string> {
    return this.tmux("capture-pane", "-p", ...(colors ? ["-e"] : []), "-t", this.session);
  }

  /** A tmux format of the session's pane (#{pane_pid}: the process the session runs). */
  display(format: string): Promise<string> {
    return this.tmux("display-message", "-p", "-t", this.session, format);
  }

  /** tmux key names (Enter, Escape, Up, C-c) or literal text with `literal`. */
  async keys(...keys: string[]): Promise<void> {
    await this.tmux("send-keys", "-t", this.session, ...keys);
  }

  async type(text: string): Promise<void> {
    await this.tmux("send-keys", "-t", this.session, "-l", text);
  }

  async waitFor(ok: (screen: string) => boolean, what: string, opts: { colors?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    for (;;) {
      const last = await this.screen(opts.colors);
      if (ok(last)) return last;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the screen:\n${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The terminal changes size (the program gets SIGWINCH, as when a person resizes the window). */
  async resize(width: number, height: number): Promise<void> {
    await this.tmux("resize-window", "-t", this.session, "-x", String(width), "-y", String(height));
  }

  async kill(): Promise<void> {
    await this.tmux("kill-server").catch(() => {});
  }
}
