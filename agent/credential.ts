/**
 * What the agent presents to the controller on every AgentService call
 * (`authorization: Bearer X`; docs/security.md, "Agents"): its session
 * credential once it has one, else its join token.
 *
 * The credential arrives once, in the Welcome of the agent's first join, and
 * is kept in `<work dir>/credentials/<name>` (mode 0600, directory 0700, never
 * in the environment, where a job of the same user could read it through
 * /proc/<pid>/environ), so a restarted agent comes back as itself. A credential
 * the controller does not know (its database was replaced, or this agent's
 * name joined again elsewhere) is dropped, and the next dial uses the join
 * token, if the agent still has one.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";

const CREDENTIAL_SHAPE = /^hodeia_[0-9A-Za-z]{43}$/;

/** Where an agent of this name keeps its credential under `workDir`. */
export function credentialFile(workDir: string, name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100);
  const tag = createHash("sha256").update(name).digest("hex").slice(0, 8);
  return join(workDir, "credentials", `${safe}-${tag}`);
}

export class AgentCredential {
  private credential = "";

  constructor(
    private readonly file: string,
    private readonly joinToken: string,
    private readonly log: Logger,
  ) {
    try {
      const saved = readFileSync(file, "utf8").trim();
      if (CREDENTIAL_SHAPE.test(saved)) this.credential = saved;
      else log.warn({ file }, "ignoring a damaged agent credential file");
    } catch {
      // none yet: the first dial joins with the join token
    }
  }

  /** What the next call presents; "" when the agent has neither. */
  bearer(): string {
    return this.credential || this.joinToken;
  }

  get joined(): boolean {
    return this.credential !== "";
  }

  get canJoin(): boolean {
    return this.joinToken !== "";
  }

  /** A Welcome's session token: a new credential (after a join), kept from now on. Empty: nothing changes. */
  accept(sessionToken: string): void {
    if (!sessionToken || sessionToken === this.credential) return;
    this.credential = sessionToken;
    try {
      mkdirSync(join(this.file, ".."), { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, `${sessionToken}\n`, { mode: 0o600 });
      chmodSync(tmp, 0o600);
      renameSync(tmp, this.file);
      this.log.info({ file: this.file }, "joined the controller; the agent's credential is kept in its work dir");
    } catch (err) {
      this.log.error({ err, file: this.file }, "cannot keep the agent's credential on disk; a restarted agent will need a join token again");
    }
  }

  /** The controller refused the credential: forget it (the join token, if any, is tried next). Returns whether anything changed. */
  dropCredential(): boolean {
    if (!this.credential) return false;
    this.credential = "";
    rmSync(this.file, { force: true });
    return true;
  }
}
