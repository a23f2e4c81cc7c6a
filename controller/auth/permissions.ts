/**
 * Who may call what, in one table (docs/security.md). Each ControlService,
 * GitOpsService, AuthService and SecretsService method names the least role that may call it
 * and, for calls that change something, the audit action it is recorded as.
 * Roles are ordered: each has every right of the roles below it.
 *
 *   viewer     reads runs, jobs, repos, agents and logs
 *   submitter  also submits runs, and cancels and reruns its own
 *   operator   also cancels and reruns every run of its projects, drains
 *              agents, adds, syncs and removes repos; with every project,
 *              makes and revokes agents' join tokens
 *   admin      also manages tokens and secrets and reads the audit log
 *
 * A method missing from the table is refused for everyone (a new RPC must be
 * placed here before anyone can call it; test/integration/auth proves every
 * method of the services is listed).
 */
import type { Role } from "../store/schema.js";

export type { Role };
export const ROLES: readonly Role[] = ["viewer", "submitter", "operator", "admin"];

export const atLeast = (have: Role, need: Role): boolean => ROLES.indexOf(have) >= ROLES.indexOf(need);

export interface CallRule {
  /** The least role that may call it. */
  role: Role;
  /** The audit action of a call that changes something; reads are not audited when allowed. */
  action?: string;
  /** Only a token for every project may call it (token management: a scoped admin must not mint an unscoped token). */
  allProjects?: boolean;
  /** Submitters may call it on their own runs only; operators on any run of their projects. */
  ownRuns?: boolean;
}

/** Keys are "Service.Method" as in the .proto files. */
export const CALLS: Readonly<Record<string, CallRule>> = {
  "ControlService.GetRun": { role: "viewer" },
  "ControlService.ListRuns": { role: "viewer" },
  "ControlService.StreamLogs": { role: "viewer" },
  "ControlService.ListAgents": { role: "viewer" },
  "ControlService.WatchRuns": { role: "viewer" },
  "ControlService.WatchAgents": { role: "viewer" },
  "ControlService.SubmitRun": { role: "submitter", action: "run.submit" },
  "ControlService.WriteStdin": { role: "submitter", ownRuns: true },
  "ControlService.CancelRun": { role: "submitter", action: "run.cancel", ownRuns: true },
  "ControlService.RerunRun": { role: "submitter", action: "run.rerun", ownRuns: true },
  "ControlService.DrainAgent": { role: "operator", action: "agent.drain" },
  "GitOpsService.ListRepos": { role: "viewer" },
  "GitOpsService.GetRepo": { role: "viewer" },
  "GitOpsService.ListJobs": { role: "viewer" },
  "GitOpsService.GetJob": { role: "viewer" },
  "GitOpsService.RunJob": { role: "submitter", action: "run.submit" },
  "GitOpsService.AddRepo": { role: "operator", action: "repo.add" },
  "GitOpsService.SyncRepo": { role: "operator", action: "repo.sync" },
  "GitOpsService.RemoveRepo": { role: "operator", action: "repo.remove" },
  "AuthService.WhoAmI": { role: "viewer" },
  "AuthService.CreateToken": { role: "admin", action: "token.create", allProjects: true },
  "AuthService.ListTokens": { role: "admin", allProjects: true },
  "AuthService.RevokeToken": { role: "admin", action: "token.revoke", allProjects: true },
  "AuthService.ListAudit": { role: "admin", allProjects: true },
  // Agents serve every project: only an operator for every project enrolls them.
  "AuthService.CreateJoinToken": { role: "operator", action: "agent.token.create", allProjects: true },
  "AuthService.ListJoinTokens": { role: "operator", allProjects: true },
  "AuthService.RevokeJoinToken": { role: "operator", action: "agent.token.revoke", allProjects: true },
  "AuthService.RevokeAgent": { role: "operator", action: "agent.revoke", allProjects: true },
  // Secrets are managed by admins for every project (values never come back out, but names and projects do).
  "SecretsService.SetSecret": { role: "admin", action: "secret.set", allProjects: true },
  "SecretsService.ListSecrets": { role: "admin", allProjects: true },
  "SecretsService.DeleteSecret": { role: "admin", action: "secret.delete", allProjects: true },
  "SecretsService.RotateKey": { role: "admin", action: "secret.rotate-key", allProjects: true },
};
