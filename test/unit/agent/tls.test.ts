import { describe, expect, it } from "vitest";
import { clientCredentials } from "../../../agent/tls.js";
import { ConfigError } from "../../../agent/errors.js";
import { tlsTrouble } from "../../../cli/tls.js";

describe("the clients' TLS settings", () => {
  it("leave a unix: address plaintext, reading no file (an HODEI_CA in the environment must not break the embedded daemon)", () => {
    const creds = clientCredentials("unix:/tmp/x/controller.sock", { caFile: "/nonexistent/ca.crt" });
    expect(creds._isSecure()).toBe(false);
    expect(clientCredentials("127.0.0.1:7070", {})._isSecure()).toBe(false);
  });

  it("name the option at fault: a file that cannot be read, a certificate without its key", () => {
    expect(() => clientCredentials("127.0.0.1:7070", { caFile: "/nonexistent/ca.crt" })).toThrow(/--ca: cannot read \/nonexistent\/ca.crt: no such file/);
    expect(() => clientCredentials("127.0.0.1:7070", { certFile: "/x.crt" })).toThrow(ConfigError);
    expect(() => clientCredentials("127.0.0.1:7070", { certFile: "/x.crt" })).toThrow(/--key: is needed with --cert/);
  });

  it("turn grpc-js's connection texts into plain reasons, only for TLS mistakes", () => {
    const raw = (last: string): string => `No connection established. Last error: ${last}. Resolution note: `;
    expect(tlsTrouble(raw("Failed to connect (2026-12-02T02:50:19.516Z)"), "h", false)?.advice).toContain("--ca");
    expect(tlsTrouble(raw("Error: self-signed certificate in certificate chain"), "h", true)?.reason).toContain("not signed by the CA");
    expect(tlsTrouble(raw("Error: Hostname/IP does not match certificate's altnames: IP: 10.0.0.9 is not in the cert's list"), "10.0.0.9", true)?.advice).toContain("--hosts 10.0.0.9");
    expect(tlsTrouble(raw("Error: 40E7:error:0A00010B:SSL routines:ssl3_get_record:wrong version number"), "h", true)?.reason).toBe("it does not speak TLS");
    expect(tlsTrouble(raw("Error: connect ECONNREFUSED 127.0.0.1:1"), "h", true)).toBeUndefined();
    expect(tlsTrouble(raw("Error: connect ECONNREFUSED 127.0.0.1:1"), "h", false)).toBeUndefined();
  });
});
