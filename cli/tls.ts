/**
 * The CLI's side of TLS: --ca (HODEI_CA) names the CA that signed the
 * controller's certificate and makes every command dial over TLS; a unix:
 * address (the embedded daemon) stays plaintext. The files are read by the
 * agent's loader (agent/tls.ts), so both check them alike; a problem with
 * them is a usage error. docs/security.md, "TLS".
 */
import type * as grpc from "@grpc/grpc-js";
import { ConfigError } from "../agent/errors.js";
import { clientCredentials } from "../agent/tls.js";
import { UsageError } from "./errors.js";

export function cliCredentials(address: string, caFile: string | undefined): grpc.ChannelCredentials {
  try {
    return clientCredentials(address, { caFile });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

/** Why a connection failed, when TLS is the likely cause, and what to do about it. */
export interface TlsTrouble {
  reason: string;
  advice: string;
}

/**
 * Reads grpc-js's "No connection established. Last error: ..." text (which
 * carries Node's and OpenSSL's) for the TLS mistakes people make, for the
 * message only: what is retried is decided by status codes, never here.
 * `host` is the address's host, `tls` whether this client dialed with TLS.
 */
export function tlsTrouble(raw: string, host: string, tls: boolean): TlsTrouble | undefined {
  if (!tls) {
    // A TLS server reads our HTTP/2 preface as a bad ClientHello and hangs up before any HTTP/2 frame.
    if (/Failed to connect|Connection dropped|ECONNRESET/i.test(raw)) {
      return {
        reason: "it closed the connection without answering",
        advice: "If it serves TLS (hodei controller --tls-cert), give --ca FILE, the CA that signed its certificate, or set HODEI_CA.",
      };
    }
    return undefined;
  }
  if (/certificate has expired|CERT_HAS_EXPIRED/i.test(raw)) {
    return { reason: "its certificate has expired", advice: "Give the controller a new certificate (hodei certs init makes one)." };
  }
  if (/Hostname\/IP does not match|does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/i.test(raw)) {
    return {
      reason: `its certificate does not name ${host}`,
      advice: `Reach it by a name its certificate lists, or give it a certificate that lists ${host} (hodei certs init --hosts ${host}).`,
    };
  }
  if (/self[- ]signed certificate|unable to verify|unable to get (local )?issuer|certificate signature failure|UNABLE_TO_GET_ISSUER|DEPTH_ZERO_SELF_SIGNED/i.test(raw)) {
    return {
      reason: "its certificate is not signed by the CA given with --ca",
      advice: "Give --ca (or HODEI_CA) the ca.crt made with the controller's server.crt by the same hodei certs init.",
    };
  }
  if (/wrong version number|packet length too long|disconnected before secure TLS|EPROTO|http request/i.test(raw)) {
    return {
      reason: "it does not speak TLS",
      advice: "For a plaintext controller (on loopback) drop --ca and HODEI_CA; to use TLS, start it with --tls-cert and --tls-key.",
    };
  }
  return undefined;
}
