import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { toServiceError } from "./errors.js";

/** A promise-returning handler as a grpc-js unary handler; every error goes through toServiceError once. */
export function unaryHandler(log: Logger) {
  return <Req, Res>(method: string, fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
      fn(call.request, call).then(
        (res) => cb(null, res),
        (err: unknown) => cb(toServiceError(err, log, method)),
      );
    };
}
