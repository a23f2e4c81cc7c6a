/**
 * A streaming masker for one output stream (stdout or stderr of one run):
 * bytes in, the same bytes out with every form of every value of its MaskSet
 * replaced by MASK. A value split across writes is caught: the bytes that
 * could still be the start of one (at most the longest form, less one) are
 * held back until the next write decides, or until flush(). Everything else
 * leaves at once and unchanged, byte for byte (binary, ANSI, invalid UTF-8).
 *
 * flush() releases what is held (the caller's timer bounds the delay) but
 * keeps the automaton's state: if a released partial match completes later,
 * the rest of it is still masked. Only the part released before is out.
 *
 * With `commands`, a line `::add-mask::VALUE` registers VALUE (trimmed;
 * %0A, %0D and %25 decoded as GitHub Actions does) in the set, for both
 * streams, from its next byte on; the line itself comes out as
 * `::add-mask::***`: VALUE is never emitted, even in part.
 */
import type { Automaton } from "./automaton.js";
import { MASK, MAX_MASK_BYTES } from "./forms.js";
import type { MaskSet } from "./set.js";

const CMD = Buffer.from("::add-mask::");
const LF = 0x0a;
const MASK_BYTES = Buffer.from(MASK);
const NL_CMD_MASK = Buffer.from(`\n${CMD.toString()}${MASK}`);
const EMPTY = Buffer.alloc(0);

export interface StreamMaskerOptions {
  /** Recognise `::add-mask::VALUE` lines (job output); off for Hodei's own lines. */
  commands?: boolean;
  /** A registered value was too short to mask; never given the value itself. */
  onShort?: () => void;
}

export class StreamMasker {
  private ac: Automaton;
  private ver: number;
  private state = 0;
  /** Bytes scanned so far (swallowed command values are not scanned). */
  private pos = 0;
  /** Scanned bytes before this position are out (as themselves or inside a mask). */
  private emitted = 0;
  /** The scanned bytes [emitted, pos) not yet out. */
  private held: Buffer = EMPTY;
  /** End of the last mask written (-1: none yet): a match reaching back into it, or starting right at it, extends it. */
  private maskEnd = -1;
  /** Matches [start, end) not yet written, flat pairs. */
  private pending: number[] = [];
  /** Bytes of CMD matched at the start of this line; -1: not a command line. */
  private cmd: number;
  /** Set while a command's value is read (and swallowed), until its newline. */
  private value?: Buffer[];
  private valueBytes = 0;

  constructor(
    private readonly set: MaskSet,
    private readonly opts: StreamMaskerOptions = {},
  ) {
    this.ac = set.automaton;
    this.ver = set.version;
    this.cmd = opts.commands ? 0 : -1;
  }

  /** True while bytes are held back (a flush() would release some). */
  get holding(): boolean {
    return this.held.length > 0;
  }

  /** The masked output these bytes allow out now (possibly empty). */
  write(data: Buffer): Buffer {
    const out: Buffer[] = [];
    this.sync();
    let from = 0;
    while (from < data.length) {
      if (this.value) {
        const nl = data.indexOf(LF, from);
        this.keepValue(data.subarray(from, nl < 0 ? data.length : nl));
        if (nl < 0) break;
        this.register();
        // A run of command lines (a loop echoing many values, read at once):
        // register them all, then rebuild the matcher once, not once per line.
        // Nothing is held here, and the line's text is known: no scan needed.
        const next = nl + 1;
        if (data.length - next >= CMD.length && data.compare(CMD, 0, CMD.length, next, next + CMD.length) === 0) {
          out.push(NL_CMD_MASK);
          this.value = [];
          this.valueBytes = 0;
          from = next + CMD.length;
          continue;
        }
        this.sync();
        from = nl; // the newline itself is output
        continue;
      }
      const [end, command] = this.scan(data, from);
      if (command) {
        // Out with everything before the value, then the mask in its place.
        out.push(...this.release(this.pos), MASK_BYTES);
        this.state = 0;
        this.value = [];
        this.valueBytes = 0;
      } else {
        out.push(...this.release(this.pos - this.ac.depth[this.state]!));
      }
      from = end;
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** Everything held, out now (the delay is up); a match completed later is still masked from there on. */
  flush(): Buffer {
    return Buffer.concat(this.release(this.pos));
  }

  /** The stream ended: a command line without its newline still registers its value. */
  end(): Buffer {
    if (this.value) this.register();
    return this.flush();
  }

  /** Scans data[from..] until its end or a confirmed `::add-mask::`; appends the scanned bytes to held. */
  private scan(data: Buffer, from: number): [number, boolean] {
    if (this.ac.states === 1) return this.scanCommands(data, from);
    const ac = this.ac;
    const { denseRow, dense, outLen } = ac;
    const pending = this.pending;
    const commands = this.opts.commands === true;
    const base = this.pos - from;
    let s = this.state;
    let cmd = this.cmd;
    let command = false;
    let i = from;
    for (; i < data.length; i++) {
      const b = data[i]!;
      const row = denseRow[s]!;
      s = row >= 0 ? dense[(row << 8) | b]! : ac.next(s, b);
      const len = outLen[s]!;
      if (len > 0) pending.push(base + i + 1 - len, base + i + 1);
      if (commands) {
        if (cmd >= 0) {
          if (b !== CMD[cmd]) cmd = -1;
          else if (++cmd === CMD.length) {
            cmd = -1;
            command = true;
            i++;
            break;
          }
        }
        if (b === LF) cmd = 0;
      }
    }
    this.state = s;
    this.cmd = cmd;
    this.hold(data.subarray(from, i));
    return [i, command];
  }

  /** No values yet: only a command can change anything. Byte by byte at line starts, native search between them. */
  private scanCommands(data: Buffer, from: number): [number, boolean] {
    let i = from;
    let cmd = this.opts.commands ? this.cmd : -1;
    let command = false;
    while (this.opts.commands && i < data.length) {
      while (cmd >= 0 && i < data.length) {
        const b = data[i++]!;
        if (b !== CMD[cmd]) cmd = -1;
        else if (++cmd === CMD.length) {
          cmd = -1;
          command = true;
          break;
        }
        if (b === LF) cmd = 0;
      }
      if (command || i >= data.length) break;
      const nl = data.indexOf(LF, i);
      if (nl < 0) {
        i = data.length;
        break;
      }
      i = nl + 1;
      cmd = 0;
    }
    this.cmd = cmd;
    if (!this.opts.commands) i = data.length;
    this.hold(data.subarray(from, i));
    return [i, command];
  }

  private hold(scanned: Buffer): void {
    this.held = this.held.length === 0 ? scanned : Buffer.concat([this.held, scanned]);
    this.pos += scanned.length;
  }

  /** Writes out the held bytes before `limit`, matches masked; a mask reaching past it takes its bytes too. */
  private release(limit: number): Buffer[] {
    const parts: Buffer[] = [];
    const p = this.pending;
    const order: number[] = [];
    for (let k = 0; k < p.length; k += 2) order.push(k);
    if (order.length > 1) order.sort((a, b) => p[a]! - p[b]! || p[b + 1]! - p[a + 1]!);
    const keep: number[] = [];
    const heldAt = this.emitted;
    let cur = this.emitted;
    for (const k of order) {
      const s = p[k]!;
      const e = p[k + 1]!;
      if (e <= this.maskEnd) continue; // inside a mask already out
      if (s >= limit) {
        keep.push(s, e); // may still grow or merge: decided later
        continue;
      }
      if (s > this.maskEnd) {
        // A new mask. It may start in bytes a flush already let out: mask from here on.
        if (s > cur) parts.push(this.held.subarray(cur - heldAt, s - heldAt));
        parts.push(MASK_BYTES);
      }
      this.maskEnd = e;
      cur = Math.max(cur, e);
    }
    if (limit > cur) {
      parts.push(this.held.subarray(cur - heldAt, limit - heldAt));
      cur = limit;
    }
    const rest = this.held.subarray(cur - heldAt);
    // A copy: what is held must not be a view of a buffer the caller may reuse.
    this.held = rest.length === 0 ? EMPTY : Buffer.from(rest);
    this.emitted = cur;
    this.pending = keep;
    return parts;
  }

  /** The set changed (a value was added): take its new automaton and rescan what is held with it. */
  private sync(): void {
    if (this.ver === this.set.version) return;
    this.ac = this.set.automaton;
    this.ver = this.set.version;
    this.pending = [];
    let s = 0;
    for (let i = 0; i < this.held.length; i++) {
      s = this.ac.next(s, this.held[i]!);
      const len = this.ac.outLen[s]!;
      const end = this.emitted + i + 1;
      if (len > 0) this.pending.push(Math.max(end - len, this.emitted), end);
    }
    this.state = s;
  }

  private keepValue(part: Buffer): void {
    const room = MAX_MASK_BYTES * 3 - this.valueBytes; // room for %0A escapes; the rest is swallowed
    if (room <= 0 || part.length === 0) return;
    const kept = part.subarray(0, room);
    this.value!.push(Buffer.from(kept)); // a copy: the caller's buffer may be reused
    this.valueBytes += kept.length;
  }

  private register(): void {
    const raw = Buffer.concat(this.value!).toString("utf8").trim();
    this.value = undefined;
    this.cmd = 0; // at the newline: the next line may be a command too
    if (raw === MASK) return; // the line as a masker upstream (the agent) left it
    const decoded = raw.replace(/%0A/gi, "\n").replace(/%0D/gi, "\r").replace(/%25/g, "%");
    const result = this.set.add(decoded);
    if (decoded !== raw) this.set.add(raw);
    if (result === "short") this.opts.onShort?.();
  }
}
