import { describe, expect, it } from "vitest";
import { isLoopbackHost, plaintextRefusal } from "../../../controller/listen-security.js";
import { compileControllerOptions, ConfigError } from "../../../controller/config.js";

describe("plaintext only on loopback", () => {
  it("knows loopback addresses in every spelling, and nothing else", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"]) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ["0.0.0.0", "::", "[::]", "10.0.0.1", "192.168.1.5", "::ffff:10.0.0.1", "fe80::1", "fe80::1%eth0", "vm", "localhost.evil.com", "127.0.0.1.nip.io", "128.0.0.1", ""]) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });

  it("refuses plaintext on a reachable address unless TLS or --insecure", () => {
    expect(plaintextRefusal("grpc", "0.0.0.0", 7070, { tls: false, insecure: false })).toContain("--insecure");
    expect(plaintextRefusal("grpc", "0.0.0.0", 7070, { tls: true, insecure: false })).toBeUndefined();
    expect(plaintextRefusal("grpc", "0.0.0.0", 7070, { tls: false, insecure: true })).toBeUndefined();
    expect(plaintextRefusal("http", "127.0.0.1", 8080, { tls: false, insecure: false })).toBeUndefined();
  });

  it("is applied when the options compile, to --listen and --http alike", () => {
    const base = { dataDir: "/tmp/x" };
    expect(() => compileControllerOptions({ ...base, listen: "0.0.0.0:7070" })).toThrow(ConfigError);
    expect(() => compileControllerOptions({ ...base, http: "10.0.0.1:8080" })).toThrow(/HTTP in plaintext on 10.0.0.1:8080/);
    expect(compileControllerOptions({ ...base, listen: "0.0.0.0:7070", insecure: true }).insecure).toBe(true);
    const tls = compileControllerOptions({ ...base, listen: "[::]:7070", tls: { certFile: "c", keyFile: "k" } }).tls;
    expect(tls).toEqual({ certFile: "c", keyFile: "k", clientCaFile: undefined });
    expect(() => compileControllerOptions({ ...base, tls: { certFile: "c" } })).toThrow(/--tls-cert and --tls-key together/);
    expect(() => compileControllerOptions({ ...base, tls: { clientCaFile: "ca" } })).toThrow(/--tls-client-ca needs/);
    expect(compileControllerOptions(base).tls).toBeUndefined();
  });
});
