/**
 * Flags that take a duration or a size. They parse with the spec grammar
 * (schemas/durations.ts, rules in docs/specs.md), so `--deadline 45` and
 * `timeout: 45` fail with the same words and `100M` is 10^8 bytes everywhere.
 * A default is left to the options compiler (agent/config.ts,
 * controller/config.ts) and named in the flag's summary.
 */
import { Errors, Flags } from "@oclif/core";
import { parseDuration, parseSize, SpecValueError } from "../schemas/durations.js";
import { EXIT } from "./errors.js";

/** A bad value is a usage error (exit 2), like oclif's own `--slots abc`. */
function usage<T>(parse: (s: string) => T): (input: string) => Promise<T> {
  return async (input) => {
    try {
      return parse(input);
    } catch (err) {
      if (err instanceof SpecValueError) throw new Errors.CLIError(err.message, { exit: EXIT.usage });
      throw err;
    }
  };
}

export const durationFlag = Flags.custom<number>({ helpValue: "DURATION", parse: usage(parseDuration) });

export const sizeFlag = Flags.custom<number>({ helpValue: "SIZE", parse: usage(parseSize) });

/** --no-color: no colour in human output, as NO_COLOR=1 (HodeiCommand.init sets it; cli/format.ts reads it). */
export const noColorFlag = Flags.boolean({
  description: "no colour in human output (as NO_COLOR=1); colour is used only on a terminal anyway",
  helpGroup: "GLOBAL",
});
