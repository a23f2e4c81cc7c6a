/**
 * Repository URLs: which ones Hodei accepts, and the one form two spellings of
 * the same repository share (a webhook names its repository by clone_url,
 * ssh_url, git_url and html_url; any of them may match a registered URL).
 */
import { isAbsolute, resolve } from "node:path";

export const MAX_URL_LENGTH = 2000;

/** scp-like syntax: [user@]host:path (no scheme, no slash before the colon). */
const SCP = /^(?:([^@/\s]+)@)?([^:/\s]+):(?!\/\/)(.+)$/;
const SCHEMES = new Set(["https:", "http:", "ssh:", "git:", "file:"]);

/** Why `url` cannot be a repository URL, or undefined when it can. */
export function urlProblem(url: string): string | undefined {
  if (url.length === 0) return "the repository URL is empty";
  if (url.length > MAX_URL_LENGTH) return `the repository URL is ${url.length} characters; the limit is ${MAX_URL_LENGTH}`;
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(url)) return "the repository URL contains spaces or control characters";
  if (url.startsWith("-")) return "the repository URL may not start with '-'";
  if (url.includes("::")) return `"${url}" uses a git remote helper (::), which Hodei does not allow`;
  if (isAbsolute(url)) return undefined;
  const m = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url);
  if (m) {
    if (!SCHEMES.has(m[1]!.toLowerCase())) return `unsupported URL scheme "${m[1]}"; use https://, http://, ssh://, git://, file:// or a local path`;
    try {
      const u = new URL(url);
      if (u.protocol !== "file:" && !u.hostname) return `"${url}" has no host`;
    } catch {
      return `"${url}" is not a valid URL`;
    }
    return undefined;
  }
  if (SCP.test(url)) return undefined;
  return `"${url}" is not a repository URL; use https://HOST/OWNER/REPO, git@HOST:OWNER/REPO, ssh://, git://, file:// or an absolute path`;
}

/**
 * The form used to compare repository URLs: host (lower case) and path, with
 * no scheme, user-info, port for the usual schemes, `.git` suffix or trailing
 * slash. Local paths become `file:` and the absolute path.
 */
export function normalizeRepoUrl(url: string): string {
  const trimPath = (p: string): string => p.replace(/\/+$/, "").replace(/\.git$/i, "").replace(/\/+$/, "");
  if (isAbsolute(url)) return `file:${trimPath(resolve(url))}`;
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url);
  if (scheme) {
    try {
      const u = new URL(url);
      if (u.protocol === "file:") return `file:${trimPath(decodeURIComponent(u.pathname))}`;
      return `${u.hostname.toLowerCase()}/${trimPath(decodeURIComponent(u.pathname).replace(/^\/+/, ""))}`;
    } catch {
      return url;
    }
  }
  const m = SCP.exec(url);
  if (m) return `${m[2]!.toLowerCase()}/${trimPath(m[3]!.replace(/^\/+/, ""))}`;
  return url;
}
