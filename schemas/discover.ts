/**
 * Which files a folder argument stands for. A repository keeps its
 * definitions under `.hodei/`; pointing at that folder (or at a folder of
 * YAML such as `.hodei/jobs`) works too. Anything else is not guessed at:
 * scanning every YAML file of a repository would drag in docker-compose
 * files, Kubernetes manifests and CI configs.
 */
import { access, readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";

const isYaml = (name: string): boolean => /\.ya?ml$/i.test(name) && !name.startsWith(".");

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** YAML files directly in `dir`, sorted. */
async function yamlIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (isYaml(e.name) && (e.isFile() || (e.isSymbolicLink() && !(await isDir(p))))) out.push(p);
  }
  return out.sort();
}

/** YAML files under `dir` at any depth, sorted; hidden entries and symlinked folders (loops) are skipped. */
async function yamlUnder(dir: string): Promise<string[]> {
  const out = await yamlIn(dir);
  const subdirs = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => join(dir, e.name));
  for (const d of subdirs) out.push(...(await yamlUnder(d)));
  return out.sort();
}

/** A Git working tree's top (`.git` is a folder, or a file in a worktree). */
export async function isRepositoryRoot(dir: string): Promise<boolean> {
  return access(join(dir, ".git")).then(
    () => true,
    () => false,
  );
}

/**
 * Files for a folder: `DIR/.hodei/**` if it exists; all of `DIR/**` if DIR
 * is itself named `.hodei`; else `DIR/<child>/.hodei/**` for each child that
 * has one (`hodei validate examples`); else nothing at a repository's top
 * (its other YAML is not Hodei's), and otherwise the YAML directly in DIR and
 * in `DIR/jobs`. An empty list means nothing was found.
 */
export async function discoverSpecFiles(dir: string): Promise<string[]> {
  if (basename(dir) === ".hodei") return yamlUnder(dir);
  const hodei = join(dir, ".hodei");
  if (await isDir(hodei)) return yamlUnder(hodei);
  const children = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => join(dir, e.name, ".hodei"))
    .sort();
  const nested: string[] = [];
  for (const c of children) if (await isDir(c)) nested.push(...(await yamlUnder(c)));
  if (nested.length > 0) return nested;
  if (await isRepositoryRoot(dir)) return [];
  const jobs = join(dir, "jobs");
  return [...(await yamlIn(dir)), ...((await isDir(jobs)) ? await yamlIn(jobs) : [])];
}
