import { sql, type Kysely } from "kysely";

// Webhook deliveries (issue 8): one row per request to /webhooks/..., accepted
// or not, so an operator can see what arrived and why it was refused
// (controller/store/webhooks.ts, controller/gitops/webhooks.ts).
//
// - claim: `provider:repo id:delivery id`, set only on a delivery whose
//   signature was checked. Its uniqueness is the dedupe: a redelivery finds
//   the claim taken and starts nothing. Refused requests never set it, so a
//   forged request carrying a real delivery id cannot block the real one.
//   A delivery whose work failed gives its claim up (set null): a redelivery
//   may try again.
// - delivery_id: the provider's id (GitHub's X-GitHub-Delivery, GitLab's
//   X-Gitlab-Event-UUID, the generic body's "delivery"), or a hash of the body.
// - status: the HTTP status answered; outcome: a short text of what happened.
// Bounded: rows beyond the newest 1000 of a repo (or of no repo) are pruned.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table webhook_deliveries (
      id bigint generated always as identity primary key,
      provider text not null,
      delivery_id text not null,
      claim text unique,
      repo_id bigint references repos (id) on delete cascade,
      event text not null,
      received_at timestamptz not null default now(),
      status integer not null,
      outcome text not null
    )`.execute(db);
  await sql`create index webhook_deliveries_repo on webhook_deliveries (repo_id, id desc)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table webhook_deliveries`.execute(db);
}
