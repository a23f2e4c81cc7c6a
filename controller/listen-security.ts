/**
 * Plaintext only where no one else can listen in (docs/security.md, "TLS").
 * A controller serves plaintext on a loopback address or a unix socket as it
 * always did; asked to listen without TLS anywhere other machines can reach
 * (0.0.0.0, ::, a LAN address, a host name), it refuses to start unless the
 * operator says --insecure, and then it warns in its log.
 *
 * A host name counts as reachable even when it resolves to loopback today
 * (Debian maps the machine's own name to 127.0.1.1; a DNS change would not
 * be noticed): only `localhost` and literal loopback addresses are local.
 */
import { isIPv4, isIPv6 } from "node:net";

/** True for `localhost`, 127.0.0.0/8, ::1 and ::ffff:127.x.x.x. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost") return true;
  if (isIPv4(h)) return h.startsWith("127.");
  if (!isIPv6(h)) return false;
  // The URL parser writes an IPv6 address in its one canonical form: ::1, or ::ffff:7f00:1 for ::ffff:127.0.0.1.
  let canonical: string;
  try {
    canonical = new URL(`http://[${h}]`).hostname.slice(1, -1);
  } catch {
    return false; // a zone id (fe80::1%eth0) is link-local, never loopback
  }
  return canonical === "::1" || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(canonical);
}

export type Listener = "grpc" | "http";

/**
 * Why `host:port` must not serve plaintext, or undefined when it may: it is
 * loopback, or TLS is on, or the operator gave --insecure.
 */
export function plaintextRefusal(listener: Listener, host: string, port: number, o: { tls: boolean; insecure: boolean }): string | undefined {
  if (o.tls || o.insecure || isLoopbackHost(host)) return undefined;
  const shown = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const flag = listener === "grpc" ? "--listen" : "--http";
  return (
    `refusing to serve ${listener === "grpc" ? "gRPC" : "HTTP"} in plaintext on ${shown} (${flag}), which other machines can reach: ` +
    `give --tls-cert and --tls-key (\`hodei certs init\` makes them; docs/security.md, "TLS"), listen on 127.0.0.1, ` +
    `or add --insecure to accept that anyone on the network can read and forge this traffic`
  );
}

/** The warning a controller logs for each plaintext listener --insecure let through; undefined when none is needed. */
export function plaintextWarning(listener: Listener, host: string, o: { tls: boolean; insecure: boolean }): string | undefined {
  if (o.tls || isLoopbackHost(host) || !o.insecure) return undefined;
  return `--insecure: serving ${listener === "grpc" ? "gRPC" : "HTTP"} WITHOUT TLS on a non-loopback address; anyone on the network can read and forge this traffic, tokens and secrets included`;
}
