/**
 * Writing to a server stream with backpressure and a clean leave: `write`
 * waits while the client is not reading, `gone` turns true (and every wait
 * resolves) when the client cancels or the call closes, and `wait` sleeps
 * until `poke` (a bus event) or the client leaves.
 */
import type { ServerWritableStream } from "@grpc/grpc-js";

export interface StreamWriter<T> {
  readonly gone: boolean;
  write(msg: T): Promise<void>;
  /** Resolves at the next poke (or at once if one came since the last wait), or when the client leaves. */
  wait(): Promise<void>;
  poke(): void;
  /** Runs `fn` when the client leaves. */
  onLeave(fn: () => void): void;
}

export function streamWriter<Req, T>(call: ServerWritableStream<Req, T>): StreamWriter<T> {
  let gone = false;
  let poked = false;
  let wakeUp: (() => void) | undefined;
  let drained: (() => void) | undefined;
  const leaves: (() => void)[] = [];
  const leave = (): void => {
    if (gone) return;
    gone = true;
    for (const fn of leaves) fn();
    wakeUp?.();
    drained?.();
  };
  call.on("cancelled", leave);
  call.on("close", leave);
  call.on("error", leave);
  return {
    get gone() {
      return gone;
    },
    async write(msg: T): Promise<void> {
      if (gone) return;
      if (call.write(msg)) return;
      await new Promise<void>((resolve) => {
        const onDrain = (): void => drained?.();
        drained = () => {
          drained = undefined;
          call.off("drain", onDrain);
          resolve();
        };
        call.once("drain", onDrain);
      });
    },
    async wait(): Promise<void> {
      if (gone) return;
      if (poked) {
        poked = false;
        return;
      }
      await new Promise<void>((resolve) => (wakeUp = resolve));
      wakeUp = undefined;
      poked = false;
    },
    poke(): void {
      poked = true;
      wakeUp?.();
    },
    onLeave(fn: () => void): void {
      if (gone) fn();
      else leaves.push(fn);
    },
  };
}
