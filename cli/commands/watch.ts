import { Args, Flags } from "@oclif/core";
import { HodeiCommand } from "../base.js";
import { UsageError } from "../errors.js";

/** The alternate screen: what was on the terminal comes back when watch quits. */
const ENTER = "\x1b[?1049h\x1b[H";
const LEAVE = "\x1b[?1000l\x1b[?1006l\x1b[?1049l";

export default class WatchCommand extends HodeiCommand {
  static override summary = "Follow runs and their logs live in the terminal.";
  static override description =
    "A live table of runs (status, job, repo or source, trigger and commit, agent, attempt, duration) with counts per state and runs finished per minute; " +
    "enter opens a run's log (colours kept, progress bars drawn as a terminal would). Press ? for every key. " +
    "`hodei watch RUN` opens straight into a run's log; `--job NAME` follows the newest run of a job. Needs a terminal (docs/watch.md).";
  static override examples = ["<%= config.bin %> watch", "<%= config.bin %> watch 42", "<%= config.bin %> watch --job deploy", "NO_COLOR=1 <%= config.bin %> watch --controller ci.example.com:7070"];
  // An interactive screen: scripts read the same runs with `hodei runs ls --json` and `hodei logs --json`.
  static override enableJsonFlag = false;
  static override args = { run: Args.string({ description: "run id: open its log at once" }) };
  static override flags = {
    job: Flags.string({ description: "show only this job's runs and follow the newest one's log", helpValue: "NAME" }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WatchCommand);
    if (!process.stdout.isTTY || !process.stdin.isTTY) {
      throw new UsageError("hodei watch needs a terminal (stdout and stdin a TTY); for scripts use `hodei runs ls --json` or `hodei logs -f RUN`");
    }
    if (args.run && flags.job) throw new UsageError("give a run id or --job, not both");
    if (args.run && !/^\d{1,18}$/.test(args.run)) throw new UsageError(`"${args.run.slice(0, 50)}" is not a run id`);
    const client = await this.connect(flags.controller);
    const color = !process.env.NO_COLOR;
    // ink draws nothing but the last frame when CI is set (is-in-ci, read when ink loads); this is a
    // terminal, checked above, whatever the environment says (a CI job may run watch in a pty, as tests do).
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
    const [{ createElement }, { render }, { WatchApp }] = await Promise.all([import("react"), import("ink"), import("../tui/app.js")]);
    process.stdout.write(ENTER);
    const restore = (): void => void process.stdout.write(LEAVE);
    process.once("exit", restore);
    try {
      const app = render(createElement(WatchApp, { client, openRun: args.run, job: flags.job, color }), { exitOnCtrlC: true, patchConsole: false });
      await app.waitUntilExit();
    } finally {
      process.off("exit", restore);
      restore();
    }
  }
}
