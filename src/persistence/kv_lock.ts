/**
 * Ownership of a KV file: one broker process at a time. The owner holds an
 * exclusive advisory lock (flock) on a file beside the store, `<path>.lock`, for
 * as long as it runs. The kernel releases that lock when the process ends, however
 * it ends (kill -9 included), so a restart can take the store over at once, and
 * needs no permission beyond reading and writing the store's directory. A second
 * live process is refused with a message that names the holder.
 *
 * Deleting the lock file is never safe (a process could lock an unlinked copy while
 * another creates a new one), so it stays beside the store. Versions before this one
 * kept a lease record under `["meta", "lock"]` in the KV itself; it means nothing now
 * and is removed once the file lock is held.
 *
 * @module
 */

/** Who holds the lock, written into the lock file for the refusal message. */
interface Holder {
  pid: number;
  host: string;
  since: string;
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** The lock file of a KV file. */
export function lockPath(kvPath: string): string {
  return `${kvPath}.lock`;
}

export class KvLock {
  readonly #file: Deno.FsFile;

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /**
   * Takes the lock of the KV file at `kvPath`, or fails at once (never waits) with an
   * error that says which process holds it and what to do.
   */
  static async acquire(kvPath: string): Promise<KvLock> {
    const path = lockPath(kvPath);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true, create: true });
    } catch (err) {
      throw new Error(`cannot open the lock file ${path} of the KV store: ${(err as Error).message}`);
    }
    let locked: boolean;
    try {
      locked = await file.tryLock(true);
    } catch (err) {
      file.close();
      throw new Error(`cannot lock ${path} (the KV store's lock file): ${(err as Error).message}`);
    }
    if (!locked) {
      file.close();
      throw inUse(kvPath, await readHolder(path));
    }
    // Who holds it, for the message a second process prints; the lock itself is the flock.
    const holder: Holder = { pid: Deno.pid, host: hostName(), since: new Date().toISOString() };
    try {
      await file.truncate(0);
      await file.write(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
    } catch {
      // The description is a courtesy; the lock is held either way.
    }
    return new KvLock(file);
  }

  /** Releases the lock (the file stays). */
  release(): void {
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }
}

async function readHolder(path: string): Promise<string> {
  try {
    const holder = JSON.parse(await Deno.readTextFile(path)) as Holder;
    return `held by process ${holder.pid} on ${holder.host} since ${holder.since}`;
  } catch {
    return `${path} is locked`;
  }
}

function inUse(kvPath: string, detail: string): Error {
  return new Error(
    `the KV store ${kvPath} is in use by another broker process (${detail}); ` +
      `stop that broker or set persistence.path to another file`,
  );
}
