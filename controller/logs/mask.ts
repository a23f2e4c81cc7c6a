/**
 * Defence in depth: the controller masks every chunk again before it stores
 * it, with the same masker as the agent (mask/). Values: the run's
 * ExecSpec.mask_values as the controller built them, and any
 * `::add-mask::VALUE` line it reads itself: an agent that masks sends that
 * line as `::add-mask::***` (nothing to learn, nothing to leak), one that
 * does not (an old or a broken agent) has it read and applied here.
 *
 * Chunk boundaries are kept (each chunk has its sequence number), so each
 * chunk is masked whole and its held bytes released at its end; the state
 * goes on, so a value split across two chunks is masked from the second
 * chunk on. The agent's streaming pass is what masks it whole.
 */
import { MaskSet, StreamMasker } from "../../mask/index.js";
import { LogStream } from "../../proto/gen/hodei/v1/common.js";

export class ChunkMasker {
  private readonly set: MaskSet;
  private readonly streams = new Map<LogStream, StreamMasker>();

  constructor(values: readonly string[]) {
    this.set = new MaskSet(values);
  }

  mask(stream: LogStream, data: Buffer): Buffer {
    let m = this.streams.get(stream);
    if (!m) this.streams.set(stream, (m = new StreamMasker(this.set, { commands: stream !== LogStream.LOG_STREAM_SYSTEM })));
    const head = m.write(data);
    const tail = m.flush();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  }
}
