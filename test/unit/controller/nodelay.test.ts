import { describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { enableNoDelay } from "../../../controller/nodelay.js";

describe("enableNoDelay", () => {
  it("sets noDelay in the options grpc-js gives http2.createServer", () => {
    const server = new grpc.Server();
    enableNoDelay(server);
    expect((server as unknown as { commonServerOptions: { noDelay?: boolean } }).commonServerOptions.noDelay).toBe(true);
  });

  it("fails loudly on a server without that private field", () => {
    expect(() => enableNoDelay({} as grpc.Server)).toThrow(/commonServerOptions/);
  });
});
