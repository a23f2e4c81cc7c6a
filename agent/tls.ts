// TLS for whoever dials a controller: the agent (--ca, --cert, --key) and
// the CLI (--ca), which imports this file. Any of the three turns TLS on;
// without --ca the system's trusted roots check the controller's
// certificate. A unix: address is always plaintext: the embedded daemon's
// socket is guarded by its 0700 folder, and an HODEI_CA in the environment
// must not break it. docs/security.md, "TLS".
import { readFileSync } from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { ConfigError } from "./errors.js";

export interface ClientTlsFiles {
  /** PEM CA certificate(s) that signed the controller's certificate. */
  caFile?: string;
  /** PEM client certificate (mutual TLS) and its key; together or not at all. */
  certFile?: string;
  keyFile?: string;
}

function read(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(option, `cannot read ${file}: ${code === "ENOENT" ? "no such file" : (code ?? (err as Error).message)}`);
  }
}

/** True when any TLS file is given. */
export function wantsTls(files: ClientTlsFiles | undefined): boolean {
  return Boolean(files?.caFile || files?.certFile || files?.keyFile);
}

/**
 * The channel credentials for dialing `address`: plaintext for unix: or when
 * no file is given, else TLS. Reads and checks the files now, so a wrong
 * path is a start-up error naming the option, not a failed handshake later.
 */
export function clientCredentials(address: string, files: ClientTlsFiles | undefined): grpc.ChannelCredentials {
  if (address.startsWith("unix:") || !wantsTls(files)) return grpc.credentials.createInsecure();
  const { caFile, certFile, keyFile } = files!;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new ConfigError(certFile ? "key" : "cert", `is needed with --${certFile ? "cert" : "key"}: a client certificate goes with its key`);
  const ca = caFile ? read("ca", caFile) : null;
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch {
      throw new ConfigError("ca", `${caFile} is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
    }
  }
  let cert: Buffer | null = null;
  let key: Buffer | null = null;
  if (certFile && keyFile) {
    cert = read("cert", certFile);
    key = read("key", keyFile);
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(cert);
    } catch {
      throw new ConfigError("cert", `${certFile} is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
    }
    let matches: boolean;
    try {
      matches = x509.checkPrivateKey(createPrivateKey(key));
    } catch {
      throw new ConfigError("key", `${keyFile} is not an unencrypted PEM private key`);
    }
    if (!matches) throw new ConfigError("key", `${keyFile} is not the key of the certificate in ${certFile}`);
  }
  quietIpServernameWarning();
  return grpc.credentials.createSsl(ca, key, cert);
}

let quieted = false;
/**
 * grpc-js sends the target's host as the TLS server name even when it is an
 * IP address (grpc/grpc-node#1919), and Node then prints DEP0123 ("Setting
 * the TLS ServerName to an IP address is not permitted by RFC 6066") into
 * the CLI's stderr. The certificate is still checked against the IP (its IP
 * SANs); only the server name indication is moot. Drop that one warning.
 */
function quietIpServernameWarning(): void {
  if (quieted) return;
  quieted = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = typeof rest[0] === "object" && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
    if (code === "DEP0123") return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}
