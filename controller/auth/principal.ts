/**
 * The caller of a gRPC call, as the guard (guard.ts) found it from its token,
 * and the project rules every handler applies the same way.
 */
import type { Role } from "../store/schema.js";
import { atLeast } from "./permissions.js";
import { ApiError } from "../api/errors.js";

export interface Principal {
  tokenId: string;
  /** The token's name: the actor in the audit log, and runs.submitted_by. */
  name: string;
  role: Role;
  /** Empty: every project. */
  projects: readonly string[];
}

const principals = new WeakMap<object, Principal>();

export function setPrincipal(call: object, p: Principal): void {
  principals.set(call, p);
}

/** The call's caller; undefined only for a call no guard saw (tests that build a service by hand). */
export function principalOf(call: object | undefined): Principal | undefined {
  return call ? principals.get(call) : undefined;
}

/** Whether the caller may see the project's runs and repos. */
export function seesProject(p: Principal | undefined, project: string): boolean {
  return !p || p.projects.length === 0 || p.projects.includes(project);
}

/** The projects a listing is limited to; undefined: all. */
export function projectFilter(p: Principal | undefined): readonly string[] | undefined {
  return p && p.projects.length ? p.projects : undefined;
}

/** The project a new run goes to: the asked one, else a one-project token's project, else "default". */
export function projectForSubmit(p: Principal | undefined, asked: string): string {
  const project = asked || (p && p.projects.length === 1 ? p.projects[0]! : "default");
  if (!seesProject(p, project)) {
    throw new ApiError("permission", `token ${p!.name} may not submit to project ${project.slice(0, 100)} (its projects: ${p!.projects.join(", ")}); pass --project`);
  }
  return project;
}

/**
 * A submitter may cancel, rerun or feed stdin to its own runs only; an operator
 * (or admin) to any run it can see.
 */
export function checkOwnRun(p: Principal | undefined, run: { id: string; submitted_by: string | null }, what: string): void {
  if (!p || atLeast(p.role, "operator") || run.submitted_by === p.name) return;
  throw new ApiError("permission", `run ${run.id} was not submitted by token ${p.name}; to ${what} another's run needs the operator role`);
}

export const PROJECT_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
