/**
 * TLS for the controller's listeners (docs/security.md, "TLS"): the files
 * are read and checked once at start, so a wrong path, a key that does not
 * match its certificate or an expired certificate stops the start with a
 * message naming the flag, instead of every client failing its handshake.
 *
 * Mutual TLS for agents only. With a client CA (--tls-client-ca) the server
 * asks every peer for a certificate but does not end the handshake of one
 * without (rejectUnauthorized: false): the CLI, which proves who it is with a
 * token, needs only the server's certificate. A server interceptor then
 * refuses every AgentService call (Connect, FetchSource, ReadStdin) whose
 * connection did not present a certificate that chains to the client CA and
 * may be used for client authentication, with a message the agent logs.
 * Refusing per call rather than in the handshake is also what makes that
 * message possible: a failed handshake reaches the agent as a bare reset.
 *
 * grpc-js's createSsl takes only a boolean that makes client certificates
 * required for every caller; its ServerCredentials constructor (public in its
 * typings) takes Node's TLS server options, which is what we give it.
 * getAuthContext() (grpc-js >= 1.10) reports the peer certificate only when
 * Node authorized it against the CA.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ConfigError } from "./config.js";
import { toWire } from "../proto/wire-errors.js";

export interface ServerTlsFiles {
  certFile: string;
  keyFile: string;
  /** Agents must present a certificate signed by this CA (mutual TLS). */
  clientCaFile?: string;
}

export interface ServerTls {
  readonly files: ServerTlsFiles;
  /** PEM, possibly a chain: the server's certificate first. */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
  /** The server certificate's expiry, for the start-up log. */
  readonly notAfter: Date;
  /** Problems worth a warning that do not stop the start (a key others can read). */
  readonly warnings: string[];
}

/** The gRPC path prefix of the service only agents call. */
export const AGENT_SERVICE_PATH = "/hodei.v1.AgentService/";
/** The extended key usage a client certificate must allow, when it lists any (RFC 5280 4.2.1.12). */
const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

async function readPem(flag: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read ${flag} ${file}: ${code === "ENOENT" ? "no such file" : (code ?? (err as Error).message)}`, { cause: err });
  }
}

function parseCert(flag: string, file: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new ConfigError(`${flag} ${file} is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`, { cause: err });
  }
}

function parseKey(file: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(pem.toString("latin1", 0, 200));
    throw new ConfigError(
      encrypted
        ? `--tls-key ${file} is encrypted; give an unencrypted key (keep it mode 0600), e.g. from \`openssl pkey -in ${file} -out server.key\``
        : `--tls-key ${file} is not a PEM private key (expected -----BEGIN PRIVATE KEY----- or similar)`,
      { cause: err },
    );
  }
}

/** Reads and checks the certificate, key and client CA; throws ConfigError naming the flag at fault. */
export async function loadServerTls(files: ServerTlsFiles, now = new Date()): Promise<ServerTls> {
  const [cert, key, clientCa] = await Promise.all([
    readPem("--tls-cert", files.certFile),
    readPem("--tls-key", files.keyFile),
    files.clientCaFile ? readPem("--tls-client-ca", files.clientCaFile) : undefined,
  ]);
  const x509 = parseCert("--tls-cert", files.certFile, cert);
  if (!x509.checkPrivateKey(parseKey(files.keyFile, key))) {
    throw new ConfigError(`--tls-key ${files.keyFile} is not the key of the certificate in --tls-cert ${files.certFile}`);
  }
  const notAfter = new Date(x509.validTo);
  if (notAfter <= now) throw new ConfigError(`the certificate in --tls-cert ${files.certFile} expired on ${notAfter.toISOString()}; make a new one (hodei certs init)`);
  if (clientCa) {
    const ca = parseCert("--tls-client-ca", files.clientCaFile!, clientCa);
    if (!ca.ca) throw new ConfigError(`--tls-client-ca ${files.clientCaFile} is not a CA certificate (its basicConstraints do not say CA:TRUE); give the CA that signed the agents' certificates`);
  }
  const warnings: string[] = [];
  const mode = (await stat(files.keyFile)).mode & 0o777;
  if (mode & 0o077) warnings.push(`--tls-key ${files.keyFile} can be read by other users (mode ${mode.toString(8).padStart(4, "0")}); chmod 600 it`);
  if (new Date(x509.validFrom) > now) warnings.push(`the certificate in --tls-cert ${files.certFile} is not valid before ${new Date(x509.validFrom).toISOString()}; clients will refuse it until then`);
  return { files, cert, key, clientCa, notAfter, warnings };
}

/**
 * Node's TLS server options, as grpc-js passes them to http2.createSecureServer.
 * `handshakeTimeout` bounds the TLS handshake as --handshake-timeout bounds
 * the HTTP/2 preface after it (Node's default is 120 s).
 */
class ServerTlsCredentials extends grpc.ServerCredentials {
  constructor(tls: ServerTls, handshakeTimeoutMs: number) {
    super(
      { requestCert: tls.clientCa !== undefined, rejectUnauthorized: false, handshakeTimeout: handshakeTimeoutMs },
      { cert: tls.cert, key: tls.key, ca: tls.clientCa },
    );
  }
  // grpc-js compares credentials when an address is bound twice; ours are never shared.
  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/** Whether the call's connection presented a certificate that chains to the client CA and allows client authentication. */
export function hasClientCertificate(call: Pick<grpc.ServerInterceptingCallInterface, "getAuthContext">): boolean {
  const peer = call.getAuthContext().sslPeerCertificate;
  if (!peer) return false;
  const usages = (peer as { ext_key_usage?: string[] }).ext_key_usage;
  return !usages || usages.includes(CLIENT_AUTH_OID);
}

const REFUSED =
  "this controller requires agents to present a client certificate signed by its client CA (--tls-client-ca), " +
  "and this connection presented none, or one that CA did not sign or that is not for client authentication: " +
  "start the agent with --cert and --key (hodei certs init makes them; docs/security.md, \"TLS\")";

/** Refuses AgentService calls from connections without a valid client certificate; every other call passes. */
function requireAgentCertificate(log: Logger): grpc.ServerInterceptor {
  return (method, call) => {
    if (!method.path.startsWith(AGENT_SERVICE_PATH)) return new grpc.ServerInterceptingCall(call);
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, mdNext) {
            if (hasClientCertificate(call)) return mdNext(metadata);
            log.warn({ peer: call.getPeer(), method: method.path }, "refused an agent call: no valid client certificate");
            const e = toWire({ code: grpc.status.UNAUTHENTICATED, kind: "permission", retryable: false, message: REFUSED });
            call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: REFUSED, metadata: e.metadata! });
          },
        });
      },
    });
  };
}

/** The credentials the gRPC server binds with: plaintext without `tls`, else TLS, mutual for agents with a client CA. */
export function serverCredentials(tls: ServerTls | undefined, o: { handshakeTimeoutMs: number; log: Logger }): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const creds = new ServerTlsCredentials(tls, o.handshakeTimeoutMs);
  return tls.clientCa ? grpc.experimental.createServerCredentialsWithInterceptors(creds, [requireAgentCertificate(o.log)]) : creds;
}

/** For the start-up log: "off", "on" or "mutual for agents". */
export function tlsMode(tls: ServerTls | undefined): "off" | "on" | "mutual for agents" {
  return !tls ? "off" : tls.clientCa ? "mutual for agents" : "on";
}
