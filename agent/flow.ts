// Write-side flow control for one stream: is it a good moment to send more?
// grpc-js's write() returning false counts messages (16 of them, whatever
// their size); this also counts bytes handed over but not yet taken by HTTP/2,
// so a flood meets backpressure after ~2 MiB and its chunks gather into large
// batches, while a lone line on an idle stream goes out at once.
import type { Writable } from "node:stream";
import type { AgentMessage } from "../proto/gen/hodei/v1/agent.js";

export const MAX_INFLIGHT_BYTES = 2 << 20;

export class Flow {
  private inflight = 0;
  private needDrain = false;
  private blocked = false;

  /** One Flow per stream, so callbacks of a dead stream cannot touch the next one's counts. */
  constructor(
    private readonly onWritable: () => void,
    private readonly maxInflightBytes = MAX_INFLIGHT_BYTES,
  ) {}

  get open(): boolean {
    return !this.needDrain && this.inflight < this.maxInflightBytes;
  }

  write(stream: Writable, message: AgentMessage): void {
    const size = messageBytes(message);
    this.inflight += size;
    const ok = stream.write(message, () => {
      this.inflight -= size;
      this.check();
    });
    if (!ok) this.needDrain = true;
    if (!this.open) this.blocked = true;
  }

  /** The stream emitted 'drain'. */
  drained(): void {
    this.needDrain = false;
    this.check();
  }

  private check(): void {
    if (this.blocked && this.open) {
      this.blocked = false;
      this.onWritable();
    }
  }
}

function messageBytes(message: AgentMessage): number {
  if (message.msg?.$case !== "logBatch") return 64;
  let n = 64;
  for (const c of message.msg.value.chunks) n += c.data.length + 16;
  return n;
}
