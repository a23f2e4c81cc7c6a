/**
 * `hodei controller --config FILE`: YAML validated by controller.schema.json,
 * with errors as FILE:LINE:COL: message like every other Hodei file.
 */
import { LineCounter, parseDocument } from "yaml";
import type { Validator } from "./check.js";
import { formatSpecError, type SpecError } from "./errors.js";
import { translateErrors } from "./messages.js";
import { locate } from "./position.js";
import { MAX_FILE_BYTES } from "./read.js";
import { ControllerConfig as generatedValidator } from "./gen/controller-config.js";

export interface ControllerConfigRepo {
  name?: string;
  url: string;
  branch?: string;
  path?: string;
  platform?: boolean;
  webhookSecretFile?: string;
  tokenFile?: string;
  pollInterval?: string | 0;
}

export interface ControllerConfig {
  apiVersion: "hodei.dev/v1";
  kind: "ControllerConfig";
  repos?: ControllerConfigRepo[];
}

/** controller.schema.json, compiled ahead of time by scripts/gen-validators.mjs. */
const validate: Validator = generatedValidator;

/** The config in `text`, or every problem with it as FILE:LINE:COL: message. */
export function parseControllerConfig(text: string, file: string): { config?: ControllerConfig; errors: string[] } {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_FILE_BYTES) return { errors: [`${file}:0:0: the file is ${bytes} bytes; the limit is ${MAX_FILE_BYTES}`] };
  const lc = new LineCounter();
  const at = (offset: number | undefined, message: string, pointer = ""): string => formatSpecError({ file, ...lc.linePos(offset ?? 0), pointer, message } satisfies SpecError);
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: false, logLevel: "silent" });
  if (doc.errors.length) return { errors: doc.errors.map((e) => at(e.pos[0], e.message.split("\n")[0]!)) };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { errors: [at(0, `cannot read the file: ${e instanceof Error ? e.message : String(e)}`)] };
  }
  if (!validate(value)) {
    const issues = translateErrors(validate.errors ?? []);
    return { errors: issues.map((i) => at(locate(doc.contents, () => undefined, i.pointer, i.at)?.range?.[0], i.message, i.pointer)) };
  }
  return { config: value as ControllerConfig, errors: [] };
}
