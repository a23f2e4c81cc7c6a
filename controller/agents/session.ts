/**
 * One connected agent: its stream, its labels and slots, and the attempts it
 * is executing with the next log sequence the controller expects of each.
 */
import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { AgentMessage, ControllerMessage } from "../../proto/gen/hodei/v1/agent.js";
import type { ChunkMasker } from "../logs/mask.js";

export interface ActiveAttempt {
  attempt: number;
  nextSeq: number;
  /** When this controller assigned it (Date.now()); undefined for runs resumed after a reconnect. */
  assignedAt?: number;
  /** Set once the agent reported the start. */
  started?: boolean;
  /** ExecSpec.mask_values of the run as this controller built it: masked again before storing. */
  maskValues?: readonly string[];
  /** Made on the first batch: the masking state of each stream of this attempt. */
  masker?: ChunkMasker;
  /** Log bytes stored for this attempt: 0 from the Assign; undefined for a run resumed after a reconnect until read from the store (once). */
  logBytes?: number;
  /** The attempt's log reached the limit: its marker is stored and later output is dropped. */
  truncated?: boolean;
  /** The controller took the assignment back (not started in time); the slot is held until the agent answers. */
  takenBack?: boolean;
}

export class AgentSession {
  readonly running = new Map<string, ActiveAttempt>();
  draining = false;
  closed = false;
  heartbeat: Record<string, number> = {};
  readonly connectedAt = Date.now();
  lastSeen = Date.now();

  constructor(
    readonly id: string,
    readonly name: string,
    readonly labels: Record<string, string>,
    readonly slots: number,
    readonly version: string,
    readonly killMethod: string,
    private readonly call: ServerDuplexStream<AgentMessage, ControllerMessage>,
  ) {}

  get free(): number {
    return this.draining || this.closed ? 0 : Math.max(0, this.slots - this.running.size);
  }

  /** False when the stream is gone; the caller decides what happens to the message's run. */
  send(msg: ControllerMessage): boolean {
    if (this.closed) return false;
    try {
      this.call.write(msg);
      return true;
    } catch {
      return false;
    }
  }

  /** Ends the stream; with `error`, as a failure the agent logs (a gRPC status and its text). */
  close(error?: { code: number; details: string }): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (error) this.call.emit("error", error);
      this.call.end();
    } catch {
      // already ended by the peer
    }
  }
}
