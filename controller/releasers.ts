/**
 * Assemble and release in one place (graphile-worker's withReleasers): each
 * part registers its release as soon as it has started; a failed start or a
 * shutdown releases everything in reverse order, awaiting each. A release
 * that fails is reported and the rest still run.
 */
export type Release = () => void | Promise<void>;

export class Releasers {
  private readonly stack: { name: string; release: Release }[] = [];
  private releasing: Promise<void> | undefined;

  constructor(private readonly onError: (name: string, err: unknown) => void = () => {}) {}

  /** Registers `release` for a part that has just started. */
  add(name: string, release: Release): void {
    if (this.releasing) throw new Error(`cannot add ${name}: already releasing`);
    this.stack.push({ name, release });
  }

  /** Runs `start`, registering `release(result)` if it succeeds; on failure, releases everything so far and rethrows. */
  async start<T>(name: string, start: () => T | Promise<T>, release: (value: T) => void | Promise<void>): Promise<T> {
    let value: T;
    try {
      value = await start();
    } catch (err) {
      await this.releaseAll();
      throw err;
    }
    this.add(name, () => release(value));
    return value;
  }

  /** Releases in reverse order, once; later calls wait for the first. */
  releaseAll(): Promise<void> {
    return (this.releasing ??= (async () => {
      for (let part = this.stack.pop(); part; part = this.stack.pop()) {
        try {
          await part.release();
        } catch (err) {
          this.onError(part.name, err);
        }
      }
    })());
  }
}
