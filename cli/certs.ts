/**
 * The certificates of `hodei certs init`: a private CA, a server certificate
 * for the controller and client certificates for agents (docs/security.md,
 * "TLS"). Keys are ECDSA P-256 from Node's WebCrypto; the certificates are
 * built by @peculiar/x509 (no ASN.1 of our own). P-256 rather than RSA: a key
 * takes a millisecond to make instead of a second, and every TLS stack Hodei
 * meets (Node's OpenSSL, grpc-js) accepts it.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { randomBytes, webcrypto } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
/** WebCrypto's key pair, as @peculiar/x509 types it (the DOM's type, which this project's lib settings leave out). */
type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"];

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60_000;
/** The CA outlives the certificates it signs, so new ones can be issued for years without redistributing it. */
export const CA_MIN_DAYS = 3650;
/** Clocks of agents and controller drift; a certificate made now must already be valid on a host a little behind. */
const BACKDATE_MS = 5 * 60_000;

export interface Pem {
  cert: string;
  key: string;
}

export interface Issued extends Pem {
  subject: string;
  notAfter: Date;
  /** SHA-256 of the certificate, colon-separated hex, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
}

interface Ca {
  cert: x509.X509Certificate;
  keys: KeyPair;
}

/** A positive 128-bit serial (RFC 5280 allows up to 20 octets; the top bit clear keeps it positive). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString("hex");
}

/** One RDN value as a DN string: escape what RFC 4514 makes special. */
const cn = (name: string): string => `CN=${name.replace(/([,+"\\<>;=])/g, "\\$1")}`;

async function pem(cert: x509.X509Certificate, keys: KeyPair): Promise<Issued> {
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as unknown as webcrypto.CryptoKey);
  const thumb = Buffer.from(await cert.getThumbprint("SHA-256"));
  return {
    cert: cert.toString("pem") + "\n",
    key: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
    subject: cert.subject,
    notAfter: cert.notAfter,
    fingerprint: [...thumb].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":"),
  };
}

const newKeys = async (): Promise<KeyPair> => (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as unknown as KeyPair;

export async function makeCa(name: string, days: number, now = new Date()): Promise<Ca & { pem: Issued }> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: cn(name),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      // pathLen 0: this CA signs only end certificates, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, pem: await pem(cert, keys) };
}

export type Purpose = "server" | "client";

/** A certificate for `name` signed by `ca`: for a server (with `hosts` as its subject alternative names) or a client. */
export async function issue(ca: Ca, o: { name: string; purpose: Purpose; hosts?: readonly string[]; days: number; now?: Date }): Promise<Issued> {
  const now = o.now ?? new Date();
  const keys = await newKeys();
  const sans = (o.hosts ?? []).map((h) => (isIP(h) ? { type: "ip" as const, value: h } : { type: "dns" as const, value: h }));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: cn(o.name),
    issuer: ca.cert.subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + o.days * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([o.purpose === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      ...(sans.length ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return pem(cert, keys);
}
