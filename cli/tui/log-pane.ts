/**
 * A run's log: the whole attempt from byte 0 through a terminal model
 * (log-buffer.ts), following live while at the bottom, scrolling, searching,
 * with timestamps and attempts on keys (help.ts). Redraws are coalesced: bytes
 * arriving at any rate cost at most one redraw per REDRAW_MS. Memory per log
 * is capped (maxLines); past it a note says the earlier output is on disk and
 * `g` reads the log's beginning again from the controller.
 */
import { createElement as h, useEffect, useMemo, useRef, useState, type ReactElement } from "react";
import { Box, Text, useStdin, useStdout } from "ink";
import type { KeyHandler } from "./use-keys.js";
import type { Run } from "../../proto/gen/hodei/v1/control.js";
import type { ControlClient } from "../client.js";
import { LogBuffer } from "./log-buffer.js";
import { LogFeed } from "./log-feed.js";
import { printable, styleOf } from "./style.js";
import { fit } from "./text.js";

export const REDRAW_MS = 50;

interface Source {
  buffer: LogBuffer;
  feed: LogFeed;
}

function open(client: ControlClient, run: Run, attempt: number, cols: number, maxLines: number, history: boolean, onChange: () => void): Source {
  const buffer = new LogBuffer(cols, maxLines);
  const feed = new LogFeed(client, run.id, attempt, buffer, history ? { follow: false, stopAfterLines: maxLines - 50, onChange } : { follow: true, onChange });
  buffer.onParsed(onChange);
  feed.start();
  return { buffer, feed };
}

const clock = (ms: number | undefined): string => (ms ? new Date(ms).toISOString().slice(11, 23) : " ".repeat(12));

export function LogPane(props: { client: ControlClient; run: Run; width: number; height: number; color: boolean; active: boolean; maxLines: number; keys: { current: KeyHandler | undefined }; onClose: () => void; onQuit: () => void }): ReactElement {
  const { run, width, height } = props;
  const [attempt, setAttempt] = useState(run.attempt || 1);
  const [history, setHistory] = useState(false);
  const [, setTick] = useState(0);
  const [top, setTop] = useState(0);
  const [follow, setFollow] = useState(true);
  const [timestamps, setTimestamps] = useState(false);
  const [searching, setSearching] = useState<string | undefined>(undefined);
  const [query, setQuery] = useState("");
  const [matches, setMatches] = useState<number[]>([]);
  const [matchIdx, setMatchIdx] = useState(0);
  const redraw = useRef<NodeJS.Timeout | undefined>(undefined);

  // Redraws at most every REDRAW_MS however fast bytes arrive.
  const schedule = useMemo(
    () => () => {
      redraw.current ??= setTimeout(() => {
        redraw.current = undefined;
        setTick((t) => t + 1);
      }, REDRAW_MS);
    },
    [],
  );
  const source = useMemo(() => open(props.client, run, attempt, width, props.maxLines, history, schedule), [run.id, attempt, history]);
  useEffect(
    () => () => {
      source.feed.stop();
      source.buffer.dispose();
    },
    [source],
  );
  useEffect(() => () => clearTimeout(redraw.current), []);
  useEffect(() => source.buffer.resize(width), [source, width]);

  // A new attempt started: follow it if the newest was shown.
  const lastAttempt = useRef(run.attempt);
  useEffect(() => {
    if (run.attempt > lastAttempt.current && attempt === lastAttempt.current && !history) {
      setAttempt(run.attempt);
      setFollow(true);
    }
    lastAttempt.current = run.attempt;
  }, [run.attempt, attempt, history]);

  // The mouse wheel, where the terminal reports it (SGR mouse mode, only while this pane is open).
  const { stdin } = useStdin();
  const { stdout } = useStdout();
  const bodyRef = useRef({ scroll: (_d: number) => {} });
  useEffect(() => {
    if (!props.active || !stdout.isTTY) return;
    stdout.write("\x1b[?1000h\x1b[?1006h");
    const onData = (d: Buffer | string): void => {
      // eslint-disable-next-line no-control-regex
      for (const m of String(d).matchAll(/\x1b\[<(\d+);\d+;\d+[Mm]/g)) {
        if (m[1] === "64") bodyRef.current.scroll(-3);
        else if (m[1] === "65") bodyRef.current.scroll(3);
      }
    };
    stdin.on("data", onData);
    return () => {
      stdin.off("data", onData);
      stdout.write("\x1b[?1000l\x1b[?1006l");
    };
  }, [props.active, stdin, stdout]);

  const buffer = source.buffer;
  const note = buffer.truncated && !history ? 1 : history ? 1 : 0;
  const bodyHeight = Math.max(1, height - 2 - note);
  const length = buffer.length;
  const maxTop = Math.max(0, length - bodyHeight);
  const shownTop = follow ? maxTop : Math.min(top, maxTop);

  // Where the view is, also between a scroll and the render it causes (a wheel burst arrives in one read).
  const pos = useRef(shownTop);
  pos.current = shownTop;
  const scroll = (d: number): void => {
    const next = Math.max(0, Math.min(maxTop, pos.current + d));
    pos.current = next;
    setTop(next);
    setFollow(next >= maxTop && !history);
  };
  bodyRef.current.scroll = scroll;
  const jumpTo = (line: number): void => {
    setFollow(false);
    setTop(Math.max(0, Math.min(maxTop, line - Math.floor(bodyHeight / 2))));
  };

  props.keys.current = (input, key) => {
    if (searching !== undefined) {
      if (key.escape) setSearching(undefined);
      else if (key.return) {
        const found = buffer.search(searching);
        setQuery(searching);
        setSearching(undefined);
        setMatches(found);
        const first = Math.max(0, found.findIndex((l) => l >= shownTop));
        setMatchIdx(first);
        if (found.length) jumpTo(found[first]!);
      } else if (key.backspace || key.delete) setSearching(searching.slice(0, -1));
      else if (input && !key.ctrl && !key.meta) setSearching(searching + input);
      return;
    }
    if (input === "q") return props.onQuit();
    if (key.escape) {
      if (query) {
        setQuery("");
        setMatches([]);
      } else props.onClose();
      return;
    }
    if (key.upArrow || input === "k") scroll(-1);
    else if (key.downArrow || input === "j") scroll(1);
    else if (key.pageUp) scroll(-bodyHeight);
    else if (key.pageDown || input === " ") scroll(bodyHeight);
    else if (input === "g") {
      if (buffer.truncated && !history) setHistory(true);
      setFollow(false);
      setTop(0);
    } else if (input === "G") {
      if (history) setHistory(false);
      setFollow(true);
    } else if (input === "t") setTimestamps((t) => !t);
    else if (input === "/") setSearching("");
    else if ((input === "n" || input === "N") && matches.length) {
      const i = (matchIdx + (input === "n" ? 1 : matches.length - 1)) % matches.length;
      setMatchIdx(i);
      jumpTo(matches[i]!);
    } else if (input === "[" && attempt > 1) {
      setAttempt(attempt - 1);
      setHistory(false);
      setFollow(true);
    } else if (input === "]" && attempt < run.attempt) {
      setAttempt(attempt + 1);
      setHistory(false);
      setFollow(true);
    }
  };

  const st = styleOf(run.state);
  const current = matches.length ? matches[matchIdx] : undefined;
  const lines: ReactElement[] = [];
  for (let i = shownTop; i < Math.min(length, shownTop + bodyHeight); i++) {
    const ts = timestamps ? `${clock(buffer.timestamp(i))} ` : "";
    let body: ReactElement;
    if (i === current && query) {
      const text = buffer.text(i);
      const at = text.toLowerCase().indexOf(query.toLowerCase());
      body = h(Text, { wrap: "truncate" }, text.slice(0, at), h(Text, { inverse: true }, text.slice(at, at + query.length)), text.slice(at + query.length));
    } else body = h(Text, { wrap: "truncate" }, buffer.render(i, props.color) || " ");
    lines.push(h(Box, { key: i }, ts ? h(Text, { dimColor: true }, ts) : null, body));
  }
  const where = follow ? "following" : `line ${shownTop + 1}-${Math.min(length, shownTop + bodyHeight)}/${length}`;
  const title = `run ${run.id} ${printable(run.jobName)} · attempt ${attempt}/${run.attempt} · ${where}${source.feed.ended ? " · complete" : ""}${source.feed.error ? ` · ${source.feed.error}` : ""}`;
  const footer =
    searching !== undefined
      ? `search: ${searching}█`
      : query
        ? `/${query}: ${matches.length ? `match ${matchIdx + 1}/${matches.length}` : "no match"} · n/N next/prev · esc clear`
        : "esc back · PgUp/PgDn g/G scroll · / search · t time · [ ] attempt · q quit";
  return h(
    Box,
    { flexDirection: "column", height },
    h(Box, null, h(Text, { color: props.color ? st.color : undefined }, `${st.symbol} ${run.state} `), h(Text, { bold: true, wrap: "truncate" }, fit(title, width - run.state.length - 3))),
    history
      ? h(Text, { color: props.color ? "yellow" : undefined, wrap: "truncate" }, `the start of the log (the first ${buffer.maxLines - 50} lines) · G back to the end, following`)
      : buffer.truncated
        ? h(Text, { color: props.color ? "yellow" : undefined, wrap: "truncate" }, `… ${buffer.dropped} earlier lines on disk — press g to load`)
        : null,
    h(Box, { flexDirection: "column", height: bodyHeight }, ...lines),
    h(Text, { dimColor: searching === undefined, wrap: "truncate" }, footer),
  );
}
