/**
 * `hodei watch`: the runs table (with the agents panel), a run's log pane,
 * and the help, over live feeds (feeds.ts). Only visible rows are rendered;
 * the feeds' changes redraw at most every REDRAW_MS; a one-second clock ticks
 * durations. When the controller goes away a banner says so while the feeds
 * reconnect by themselves.
 */
import { randomUUID } from "node:crypto";
import { createElement as h, useEffect, useMemo, useRef, useState, type ReactElement } from "react";
import { Box, Text, useApp, useStdout } from "ink";
import { useKeys, type KeyHandler } from "./use-keys.js";
import type { Run } from "../../proto/gen/hodei/v1/control.js";
import type { ControlClient } from "../client.js";
import { AgentFeed, RunFeed } from "./feeds.js";
import { countByState, finishedPerMinute, isActive, nextStateFilter, visibleRuns, windowOf } from "./model.js";
import { RunsTable } from "./runs-table.js";
import { Header } from "./header.js";
import { AgentsPanel } from "./agents-panel.js";
import { Help } from "./help.js";
import { LogPane, REDRAW_MS } from "./log-pane.js";
import { printable } from "./style.js";

export interface WatchProps {
  client: ControlClient;
  /** `hodei watch RUN`: open this run's log at once. */
  openRun?: string;
  /** `hodei watch --job NAME`: only this job's runs, the newest one's log open and followed. */
  job?: string;
  color: boolean;
  /** The terminal's size; default: stdout's, following resizes. */
  size?: { width: number; height: number };
  /** Lines of one log held in memory (log-buffer.ts). */
  maxLogLines?: number;
}

function useSize(fixed: WatchProps["size"]): { width: number; height: number } {
  const { stdout } = useStdout();
  const read = (): { width: number; height: number } => fixed ?? { width: stdout.columns || 80, height: stdout.rows || 24 };
  const [size, setSize] = useState(read);
  useEffect(() => {
    if (fixed) return setSize(fixed);
    const onResize = (): void => setSize(read());
    stdout.on("resize", onResize);
    return () => void stdout.off("resize", onResize);
  }, [stdout, fixed?.width, fixed?.height]);
  return size;
}

/** Re-renders when `feed` changes, at most every REDRAW_MS. */
function useFeed(feed: RunFeed | AgentFeed): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    let timer: NodeJS.Timeout | undefined;
    const stop = feed.onChange(() => {
      timer ??= setTimeout(() => {
        timer = undefined;
        setTick((t) => t + 1);
      }, REDRAW_MS);
    });
    return () => {
      stop();
      clearTimeout(timer);
    };
  }, [feed]);
}

type Prompt = { kind: "filter"; text: string } | { kind: "cancel"; run: Run };

export function WatchApp(props: WatchProps): ReactElement {
  const { client } = props;
  const { exit } = useApp();
  const { width, height: rows } = useSize(props.size);
  const height = Math.max(5, rows - 1); // one row spare: ink redraws in place only while the frame is shorter than the screen
  const runFeed = useMemo(() => new RunFeed(client, props.job ? { jobs: [props.job] } : {}), [client, props.job]);
  const agentFeed = useMemo(() => new AgentFeed(client), [client]);
  useEffect(() => {
    runFeed.start();
    return () => runFeed.stop();
  }, [runFeed]);
  useFeed(runFeed);
  useFeed(agentFeed);

  const [showAgents, setShowAgents] = useState(false);
  useEffect(() => {
    if (!showAgents) return;
    agentFeed.start();
    return () => agentFeed.stop();
  }, [agentFeed, showAgents]);

  const [filter, setFilter] = useState({ text: "", state: "" });
  const [selectedId, setSelectedId] = useState<string | undefined>(undefined);
  const [top, setTop] = useState(0);
  const [prompt, setPrompt] = useState<Prompt | undefined>(undefined);
  const [message, setMessage] = useState("");
  const [help, setHelp] = useState(false);
  const [logRun, setLogRun] = useState<string | undefined>(props.openRun);
  const [fetched, setFetched] = useState<Run | undefined>(undefined);
  const [now, setNow] = useState(Date.now());

  const runs = visibleRuns(runFeed.runs.values(), filter);
  // Durations tick while something runs (a display clock; the data comes from the stream).
  const anyActive = runs.some(isActive);
  useEffect(() => {
    if (!anyActive) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [anyActive]);

  // --job: follow the newest run of the job.
  const newest = props.job ? runs[0]?.id : undefined;
  useEffect(() => {
    if (newest) setLogRun(newest);
  }, [newest]);

  // A run named on the command line that the snapshot does not hold (older than its limit).
  useEffect(() => {
    if (!logRun || runFeed.runs.has(logRun) || fetched?.id === logRun || !runFeed.ready) return;
    client.getRun(logRun).then(setFetched, (err: Error) => {
      setMessage(`run ${logRun}: ${err.message}`);
      setLogRun(undefined);
    });
  }, [logRun, runFeed.ready, runFeed.runs.size]);

  let selected = Math.max(0, selectedId ? runs.findIndex((r) => r.id === selectedId) : 0);
  if (selected >= runs.length) selected = Math.max(0, runs.length - 1);
  const agents = [...agentFeed.agents.values()].sort((a, b) => a.name.localeCompare(b.name));
  const agentsHeight = showAgents ? Math.min(Math.max(4, agents.length + 3), Math.floor(height / 3)) : 0;
  const banner = runFeed.connection === "lost";
  const tableHeight = Math.max(2, height - 2 - 1 - (banner ? 1 : 0) - agentsHeight);
  const shownTop = windowOf(runs.length, selected, tableHeight - 1, top);
  useEffect(() => {
    if (shownTop !== top) setTop(shownTop);
  }, [shownTop, top]);
  const current = runs[selected];
  const select = (i: number): void => setSelectedId(runs[Math.max(0, Math.min(runs.length - 1, i))]?.id);

  const logTarget = logRun ? (runFeed.runs.get(logRun) ?? (fetched?.id === logRun ? fetched : undefined)) : undefined;

  const paneKeys = useRef<KeyHandler | undefined>(undefined);
  useKeys(
    (input, key) => {
      if (help) return setHelp(false);
      if (logTarget) return paneKeys.current?.(input, key);
      if (prompt?.kind === "filter") {
        if (key.escape) {
          setFilter({ ...filter, text: "" });
          setPrompt(undefined);
        } else if (key.return) setPrompt(undefined);
        else if (key.backspace || key.delete) {
          const text = prompt.text.slice(0, -1);
          setPrompt({ kind: "filter", text });
          setFilter({ ...filter, text });
        } else if (input && !key.ctrl && !key.meta) {
          const text = prompt.text + input;
          setPrompt({ kind: "filter", text });
          setFilter({ ...filter, text });
        }
        return;
      }
      if (prompt?.kind === "cancel") {
        const run = prompt.run;
        setPrompt(undefined);
        if (input === "y" || input === "Y") {
          setMessage(`cancelling run ${run.id}…`);
          client.cancelRun(run.id, "cancelled from hodei watch").then(
            (r) => setMessage(`run ${r.id}: cancel requested (${r.state})`),
            (err: Error) => setMessage(`cannot cancel run ${run.id}: ${err.message}`),
          );
        } else setMessage("not cancelled");
        return;
      }
      if (input === "q") return exit();
      if (input === "?") return setHelp(true);
      if (key.upArrow || input === "k") select(selected - 1);
      else if (key.downArrow || input === "j") select(selected + 1);
      else if (key.pageUp) select(selected - (tableHeight - 1));
      else if (key.pageDown) select(selected + (tableHeight - 1));
      else if (input === "g") select(0);
      else if (input === "G") select(runs.length - 1);
      else if (key.return && current) setLogRun(current.id);
      else if (input === "/") setPrompt({ kind: "filter", text: filter.text });
      else if (input === "s") setFilter({ ...filter, state: nextStateFilter(filter.state) });
      else if (key.escape) setFilter({ text: "", state: "" });
      else if (input === "a") setShowAgents(!showAgents);
      else if (input === "c" && current) {
        if (!isActive(current)) setMessage(`run ${current.id} already ended (${current.state})`);
        else setPrompt({ kind: "cancel", run: current });
      } else if (input === "r" && current) {
        setMessage(`rerunning run ${current.id}…`);
        client.rerunRun(current.id, randomUUID()).then(
          (r) => {
            setMessage(`run ${r.id} started (rerun of ${current.id})`);
            setSelectedId(r.id);
          },
          (err: Error) => setMessage(`cannot rerun run ${current.id}: ${err.message}`),
        );
      }
    },
    true,
  );

  const bannerEl = banner ? h(Text, { color: props.color ? "white" : undefined, backgroundColor: props.color ? "red" : undefined, inverse: !props.color, wrap: "truncate" }, ` ✖ controller unreachable (${printable(runFeed.lastError)}): reconnecting… `) : null;

  if (help) return h(Box, { flexDirection: "column", height, width }, bannerEl, h(Help, { height: height - (banner ? 1 : 0) }));

  if (logTarget) {
    return h(
      Box,
      { flexDirection: "column", height, width },
      bannerEl,
      h(LogPane, {
        key: logTarget.id,
        client,
        run: logTarget,
        width,
        height: height - (banner ? 1 : 0),
        color: props.color,
        active: true,
        maxLines: props.maxLogLines ?? 10_000,
        keys: paneKeys,
        onClose: () => {
          setSelectedId(logTarget.id);
          setLogRun(undefined);
        },
        onQuit: () => exit(),
      }),
    );
  }

  const all = runFeed.runs.values();
  const footer =
    prompt?.kind === "filter"
      ? `filter: ${prompt.text}█  (enter keep · esc clear)`
      : prompt?.kind === "cancel"
        ? `cancel run ${prompt.run.id} (${printable(prompt.run.jobName)})? y/n`
        : message || "↑↓ move · enter log · / filter · s state · c cancel · r rerun · a agents · ? help · q quit";
  return h(
    Box,
    { flexDirection: "column", height, width },
    h(Header, { counts: countByState(runFeed.runs.values()), perMinute: finishedPerMinute(all, now), width, color: props.color, filter: filter.text, stateFilter: filter.state }),
    bannerEl,
    runFeed.ready ? h(RunsTable, { runs, selected, top: shownTop, height: tableHeight, width, now, color: props.color }) : h(Box, { height: tableHeight }, h(Text, null, runFeed.connection === "lost" ? "" : "connecting…")),
    showAgents ? h(AgentsPanel, { agents, width, height: agentsHeight, now, color: props.color }) : null,
    h(Text, { wrap: "truncate", bold: prompt !== undefined, color: prompt?.kind === "cancel" && props.color ? "yellow" : undefined }, footer),
  );
}
