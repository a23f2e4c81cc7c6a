/**
 * A stand-in for GitHub's REST API on loopback, for the commit status
 * reporter's tests. It is a fake because GitHub's API cannot be reached from
 * the machines these tests run on (no outbound network), and a real
 * repository would need a real token. It speaks the shapes of the one
 * endpoint used, as documented at
 * https://docs.github.com/en/rest/commits/statuses#create-a-commit-status:
 *
 *   POST /repos/{owner}/{repo}/statuses/{sha}
 *   { "state": "pending|success|failure|error", "target_url"?, "description"?, "context"? }
 *   → 201 { url, avatar_url, id, node_id, state, description, target_url, context, created_at, updated_at, creator }
 *
 * and GitHub's errors: 401 `{ message: "Requires authentication" }` without a
 * token, 404 for other paths, 422 "Validation Failed" with `errors` for a bad
 * body. Tests script failures ahead (`fail(502)`, `failAlways(500)`) and read
 * every request it received (`requests`), including the ones it failed.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedStatus {
  owner: string;
  repo: string;
  sha: string;
  headers: IncomingHttpHeaders;
  body: { state?: string; target_url?: string; description?: string; context?: string };
  /** What the fake answered. */
  answered: number;
}

export interface FakeGitHub {
  /** The API base URL (as --github-api-url), e.g. http://127.0.0.1:PORT; its host is where repositories live. */
  readonly url: string;
  readonly requests: ReceivedStatus[];
  /** The statuses answered 201, in order. */
  readonly posted: ReceivedStatus[];
  /** The next requests get these statuses (then 201 again); headers for each, e.g. Retry-After. */
  fail(status: number, headers?: Record<string, string>): void;
  /** Every request gets `status` until `failAlways(undefined)`. */
  failAlways(status: number | undefined): void;
  close(): Promise<void>;
}

const STATES = new Set(["pending", "success", "failure", "error"]);

export async function startFakeGitHub(): Promise<FakeGitHub> {
  const requests: ReceivedStatus[] = [];
  const scripted: { status: number; headers: Record<string, string> }[] = [];
  let always: number | undefined;
  let nextId = 1;

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { "content-type": "application/json; charset=utf-8", "x-github-media-type": "github.v3; format=json", ...headers });
        res.end(JSON.stringify(body));
      };
      const m = /^\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]{40})$/.exec(req.url ?? "");
      if (req.method !== "POST" || !m) return send(404, { message: "Not Found", documentation_url: "https://docs.github.com/rest" });
      let body: ReceivedStatus["body"];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ReceivedStatus["body"];
      } catch {
        return send(400, { message: "Problems parsing JSON", documentation_url: "https://docs.github.com/rest" });
      }
      const rec: ReceivedStatus = { owner: m[1]!, repo: m[2]!, sha: m[3]!, headers: req.headers, body, answered: 0 };
      requests.push(rec);
      const answer = (status: number, b: unknown, headers?: Record<string, string>): void => {
        rec.answered = status;
        send(status, b, headers);
      };
      const s = scripted.shift() ?? (always !== undefined ? { status: always, headers: {} } : undefined);
      if (s) return answer(s.status, { message: s.status >= 500 ? "Server Error" : "Error", documentation_url: "https://docs.github.com/rest" }, s.headers);
      if (!req.headers.authorization) return answer(401, { message: "Requires authentication", documentation_url: "https://docs.github.com/rest" });
      if (!body.state || !STATES.has(body.state) || (body.description !== undefined && typeof body.description !== "string")) {
        return answer(422, {
          message: "Validation Failed",
          errors: [{ resource: "Status", code: "custom", field: "state", message: "state is not included in the list" }],
          documentation_url: "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
        });
      }
      const id = nextId++;
      const now = new Date().toISOString();
      answer(201, {
        url: `${url}/repos/${rec.owner}/${rec.repo}/statuses/${rec.sha}`,
        avatar_url: "https://github.com/images/error/hubot_happy.gif",
        id,
        node_id: `MDY6U3RhdHVz${id}`,
        state: body.state,
        description: body.description ?? null,
        target_url: body.target_url ?? null,
        context: body.context ?? "default",
        created_at: now,
        updated_at: now,
        creator: { login: "hodei-bot", id: 1, type: "User", site_admin: false },
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    get posted() {
      return requests.filter((r) => r.answered === 201);
    },
    fail: (status, headers = {}) => void scripted.push({ status, headers }),
    failAlways: (status) => void (always = status),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
