// Finding the agent's cgroups and choosing the kill method, without touching
// the machine's cgroups (integration/agent/kill.test.ts does that for real).
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { CgroupRoot, ownCgroups } from "../../../agent/cgroup.js";
import { CgroupError, ConfigError, SpawnError } from "../../../agent/errors.js";
import { parseKillMethod } from "../../../agent/parse.js";
import { openTrees } from "../../../agent/tree.js";
import { resolveExecutable } from "../../../agent/workspace.js";

const silent = pino({ level: "silent" });
const root = mkdtempSync(join(tmpdir(), "hodei-cgroup-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// A hybrid host like the CI machine: v1 controllers plus cgroup2 at /sys/fs/cgroup/unified.
const HYBRID_MOUNTS = `tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`;

describe("ownCgroups", () => {
  it("finds the v2 and v1 freezer directories of the process on a hybrid host", () => {
    const self = "9:name=systemd:/\n8:pids:/\n6:freezer:/ci/job\n1:cpu:/\n0::/ci/job\n";
    expect(ownCgroups(self, HYBRID_MOUNTS)).toEqual({ v2: "/sys/fs/cgroup/unified/ci/job", v1Freezer: "/sys/fs/cgroup/freezer/ci/job" });
  });

  it("on a pure v2 host, with escaped spaces in the mount point and ':' in the path", () => {
    const mounts = "cgroup2 /sys/fs/my\\040cgroup cgroup2 rw,nosuid 0 0\n";
    expect(ownCgroups("0::/system.slice/hodei:agent.service\n", mounts)).toEqual({ v2: "/sys/fs/my cgroup/system.slice/hodei:agent.service" });
  });

  it("finds a freezer mounted together with other controllers, and nothing when nothing is mounted", () => {
    const mounts = "cgroup /sys/fs/cgroup/freezer,pids cgroup rw,freezer,pids 0 0\n";
    expect(ownCgroups("4:freezer,pids:/a\n", mounts)).toEqual({ v1Freezer: "/sys/fs/cgroup/freezer,pids/a" });
    expect(ownCgroups("0::/\n", "")).toEqual({});
  });
});

describe("openTrees", () => {
  it("auto falls back to process groups when no cgroup is usable", () => {
    expect(openTrees("auto", silent, {}).method).toBe("process-group");
    const notCgroup = join(root, "plain-dir");
    mkdirSync(notCgroup);
    expect(openTrees("auto", silent, { v2: notCgroup, v1Freezer: notCgroup }).method).toBe("process-group");
  });

  it("an explicit cgroup choice that cannot be met is a ConfigError saying why", () => {
    expect(() => openTrees("cgroup", silent, {})).toThrow(ConfigError);
    expect(() => openTrees("cgroup", silent, {})).toThrow(/--kill-method: cgroup is not usable here: cgroup v2: no cgroup2 mount; cgroup v1: no freezer hierarchy/);
    const notCgroup = join(root, "plain-dir-2");
    mkdirSync(notCgroup);
    expect(() => openTrees("cgroup-v2", silent, { v2: notCgroup })).toThrow(/has no cgroup.kill/);
  });

  it("process-group needs nothing", () => {
    expect(openTrees("process-group", silent, {}).method).toBe("process-group");
  });

  it("CgroupRoot.open refuses a directory that is not a cgroup, and leaves nothing behind", () => {
    const parent = join(root, "parent");
    mkdirSync(parent);
    expect(() => CgroupRoot.open(2, parent)).toThrow(CgroupError);
    expect(readdirSync(parent)).toEqual([]);
    expect(() => CgroupRoot.open(1, join(root, "missing"))).toThrow(/cannot create cgroup/);
  });
});

describe("parseKillMethod", () => {
  it("accepts the methods and refuses anything else", () => {
    expect(parseKillMethod("kill-method", "auto")).toBe("auto");
    expect(parseKillMethod("kill-method", " Cgroup ")).toBe("cgroup");
    expect(parseKillMethod("kill-method", "process-group")).toBe("process-group");
    expect(() => parseKillMethod("kill-method", "docker")).toThrow(/not a kill method/);
  });
});

describe("resolveExecutable", () => {
  it("resolves like execvp: a path as given, a name on PATH, and says ENOENT or EACCES otherwise", () => {
    const bin = join(root, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "tool"), "#!/bin/sh\n");
    chmodSync(join(bin, "tool"), 0o755);
    writeFileSync(join(bin, "data"), "");
    chmodSync(join(bin, "data"), 0o644);
    expect(resolveExecutable("tool", `/nonexistent:${bin}`, "/")).toBe(join(bin, "tool"));
    expect(resolveExecutable("./bin/tool", "", root)).toBe(join(bin, "tool"));
    expect(resolveExecutable("sh", "/usr/bin:/bin", "/")).toMatch(/\/sh$/);
    expect(() => resolveExecutable("nope-xyz", bin, "/")).toThrow(SpawnError);
    expect(() => resolveExecutable("nope-xyz", bin, "/")).toThrow("command not found: nope-xyz");
    // root may execute anything with an x bit; a file with none is refused for everyone.
    expect(() => resolveExecutable("data", bin, "/")).toThrow(/permission denied/);
    expect(() => resolveExecutable("bin", root, "/")).toThrow(/command not found/); // a directory is not a command
  });
});
