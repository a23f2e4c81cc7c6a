// Host figures for Heartbeat. CPU use is the busy share of all cores between
// two samples of os.cpus() (the kernel's cumulative per-core tick counters), so
// the first heartbeat covers the time since the agent started.
import os from "node:os";
import type { Heartbeat } from "../proto/gen/hodei/v1/agent.js";

interface CpuTotals {
  idle: number;
  total: number;
}

function cpuTotals(): CpuTotals {
  let idle = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const t = cpu.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
}

export class HostMetrics {
  private last = cpuTotals();

  /** CPU use of the whole host since the previous call, 0..100. */
  cpuPercent(): number {
    const now = cpuTotals();
    const total = now.total - this.last.total;
    const idle = now.idle - this.last.idle;
    this.last = now;
    if (total <= 0) return 0;
    return Math.min(100, Math.max(0, (100 * (total - idle)) / total));
  }

  heartbeat(running: number): Heartbeat {
    const total = os.totalmem();
    return {
      cpuPercent: Math.round(this.cpuPercent() * 10) / 10,
      // libuv's freemem reads MemAvailable on Linux, so page cache counts as free.
      memoryUsedBytes: total - os.freemem(),
      memoryTotalBytes: total,
      load1: os.loadavg()[0] ?? 0,
      running,
      agentRssBytes: process.memoryUsage.rss(),
    };
  }
}
