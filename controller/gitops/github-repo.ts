/**
 * Which GitHub repository a registered URL names, if any: owner and name from
 * https://, ssh://, git:// and scp-like (git@host:owner/repo) URLs, on
 * github.com or on the host of a GitHub Enterprise server's API.
 */
import { normalizeRepoUrl } from "./urls.js";

export const DEFAULT_GITHUB_API_URL = "https://api.github.com";

export interface GitHubRepo {
  owner: string;
  repo: string;
}

/**
 * The host whose repositories the API at `apiUrl` serves: github.com for
 * api.github.com, otherwise the API's own host (Enterprise serves both the
 * API, under /api/v3, and the repositories from one host).
 */
export function githubHost(apiUrl: string): string {
  const host = new URL(apiUrl).hostname.toLowerCase();
  return host === "api.github.com" ? "github.com" : host;
}

const SEGMENT = /^[A-Za-z0-9_.-]{1,100}$/;

/** Owner and name when `url` is a repository on `host` (ports and user-info are ignored), else undefined. */
export function parseGitHubRepo(url: string, host: string): GitHubRepo | undefined {
  const n = normalizeRepoUrl(url.trim());
  if (n.startsWith("file:")) return undefined;
  const slash = n.indexOf("/");
  if (slash < 0 || n.slice(0, slash) !== host.toLowerCase()) return undefined;
  const parts = n.slice(slash + 1).split("/");
  if (parts.length !== 2) return undefined;
  const [owner, repo] = parts as [string, string];
  if (!SEGMENT.test(owner) || !SEGMENT.test(repo) || owner === "." || owner === ".." || repo === "." || repo === "..") return undefined;
  return { owner, repo };
}
