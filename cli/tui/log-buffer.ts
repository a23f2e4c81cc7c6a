/**
 * One attempt's log as a terminal shows it. The bytes go through a headless
 * terminal emulator (@xterm/headless, the parser of VS Code's terminal) so
 * ANSI colours are kept and `\r` progress bars and cursor movements end as a
 * terminal would draw them; its scrollback caps the lines held in memory
 * (the oldest are dropped, and `truncated` says so: the whole log stays on
 * the controller's disk and can be read again from byte 0).
 */
import xterm from "@xterm/headless";
import type { IBufferCell, IBufferLine, Terminal as TerminalType } from "@xterm/headless";

const { Terminal } = xterm;

/** Screen rows of the emulator: room for cursor-up progress displays (docker, npm) to redraw in place. */
const SCREEN_ROWS = 50;

export class LogBuffer {
  private term: TerminalType;
  /** Line feeds parsed so far: the absolute number of the line the cursor is on. */
  private lineFeeds = 0;
  /** The chunk timestamp of each absolute line (the chunk that ended it), from `tsBase` on. */
  private lineTs: number[] = [];
  private tsBase = 0;
  /** Timestamps of written chunks not yet parsed (the emulator parses asynchronously, in order). */
  private pending: number[] = [];
  bytes = 0;
  private listeners = new Set<() => void>();

  constructor(
    cols: number,
    readonly maxLines: number,
  ) {
    this.term = new Terminal({ cols: Math.max(10, cols), rows: SCREEN_ROWS, scrollback: Math.max(0, maxLines - SCREEN_ROWS), allowProposedApi: true, convertEol: true });
    this.term.onLineFeed(() => {
      this.lineTs[this.lineFeeds - this.tsBase] = this.pending[0] ?? Date.now();
      this.lineFeeds += 1;
    });
  }

  /** Called after written bytes have been parsed. */
  onParsed(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  write(data: Uint8Array, tsMs: number): void {
    this.bytes += data.byteLength;
    this.pending.push(tsMs);
    this.term.write(data, () => {
      this.pending.shift();
      if (this.lineTs.length > this.maxLines * 2) {
        const drop = this.lineTs.length - this.maxLines;
        this.lineTs.splice(0, drop);
        this.tsBase += drop;
      }
      for (const l of this.listeners) l();
    });
  }

  /** Whether everything written has been parsed. */
  get idle(): boolean {
    return this.pending.length === 0;
  }

  get cols(): number {
    return this.term.cols;
  }

  resize(cols: number): void {
    if (Math.max(10, cols) !== this.term.cols) this.term.resize(Math.max(10, cols), SCREEN_ROWS);
  }

  /** Lines held: up to the cursor's line, and that one only if it has text. */
  get length(): number {
    const b = this.term.buffer.active;
    const cursorLine = b.baseY + b.cursorY;
    const current = b.getLine(cursorLine);
    return cursorLine + (b.cursorX > 0 || (current?.translateToString(true).length ?? 0) > 0 ? 1 : 0);
  }

  /** Lines dropped from the top to keep memory bounded. */
  get dropped(): number {
    const b = this.term.buffer.active;
    return Math.max(0, this.lineFeeds - (b.baseY + b.cursorY));
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  text(i: number): string {
    return this.term.buffer.active.getLine(i)?.translateToString(true) ?? "";
  }

  /** The line's time (of the chunk that ended it; the newest chunk's for the last line). */
  timestamp(i: number): number | undefined {
    return this.lineTs[i + this.dropped - this.tsBase];
  }

  /** The line with its colours as SGR sequences (colour false: plain text). */
  render(i: number, color: boolean): string {
    const line = this.term.buffer.active.getLine(i);
    if (!line) return "";
    return color ? toAnsi(line) : line.translateToString(true);
  }

  /** Indexes of lines containing `q` (case-insensitive). */
  search(q: string): number[] {
    const needle = q.toLowerCase();
    const out: number[] = [];
    if (!needle) return out;
    for (let i = 0; i < this.length; i++) if (this.text(i).toLowerCase().includes(needle)) out.push(i);
    return out;
  }

  dispose(): void {
    this.listeners.clear();
    this.term.dispose();
  }
}

function sgrOf(c: IBufferCell): string {
  const codes: (number | string)[] = [0];
  if (c.isBold()) codes.push(1);
  if (c.isDim()) codes.push(2);
  if (c.isItalic()) codes.push(3);
  if (c.isUnderline()) codes.push(4);
  if (c.isInverse()) codes.push(7);
  if (c.isStrikethrough()) codes.push(9);
  if (c.isFgPalette()) {
    const n = c.getFgColor();
    codes.push(n < 8 ? 30 + n : n < 16 ? 90 + n - 8 : `38;5;${n}`);
  } else if (c.isFgRGB()) {
    const v = c.getFgColor();
    codes.push(`38;2;${(v >> 16) & 255};${(v >> 8) & 255};${v & 255}`);
  }
  if (c.isBgPalette()) {
    const n = c.getBgColor();
    codes.push(n < 8 ? 40 + n : n < 16 ? 100 + n - 8 : `48;5;${n}`);
  } else if (c.isBgRGB()) {
    const v = c.getBgColor();
    codes.push(`48;2;${(v >> 16) & 255};${(v >> 8) & 255};${v & 255}`);
  }
  return `\x1b[${codes.join(";")}m`;
}

function toAnsi(line: IBufferLine): string {
  const end = line.translateToString(true).length;
  let out = "";
  let last = "\x1b[0m";
  let plain = true;
  const cell = line.getCell(0);
  if (!cell) return "";
  for (let x = 0, chars = 0; x < line.length && chars < end; x++) {
    const c = line.getCell(x, cell);
    if (!c || c.getWidth() === 0) continue;
    const sgr = sgrOf(c);
    if (sgr !== last) {
      out += sgr;
      last = sgr;
      plain = sgr === "\x1b[0m";
    }
    const ch = c.getChars() || " ";
    out += ch;
    chars += ch.length;
  }
  return plain ? out : `${out}\x1b[0m`;
}
