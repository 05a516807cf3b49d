/**
 * Work produced while handling one batch of inbound frames: store mutations
 * and the sends that must wait until those mutations are durable.
 *
 * Persist, then acknowledge: a PUBACK/PUBREC/SUBACK that depends on stored state
 * is queued here and written only after the store commit resolves. Batches of
 * one connection complete in order, so acknowledgements keep the order in which
 * the PUBLISH packets arrived [MQTT-4.6.0-2].
 *
 * When the commit fails, what the batch changed in memory is taken back (its
 * compensations run, newest first) so that memory does not run ahead of the store:
 * a message whose publisher is not acknowledged leaves no copy in any queue or
 * in-flight window, and a retained message that was not stored is not served.
 *
 * @module
 */
import type { Mutation, Store } from "../persistence/store.ts";

/**
 * What a chain tells its owner. An interface rather than callbacks, so that a connection can
 * be its own chain's observer without a closure per connection.
 */
export interface CommitObserver {
  /** A commit failed (its batch was rolled back), or an action waiting on one threw. */
  commitFailed(err: unknown): void;
  /** How long a store commit took, in milliseconds (strict durability only). */
  commitTook?(ms: number): void;
}

/** Options of {@link CommitChain}. */
export interface CommitChainOptions {
  /**
   * Relaxed durability: actions run as soon as earlier batches' have, without waiting for
   * the store (which commits within its own window). Default false.
   */
  relaxed?: boolean;
}

/** One unit of durable work and the actions waiting on it. */
export class CommitBatch {
  readonly mutations: Mutation[] = [];
  /** Other work the acknowledgements wait for besides the store (a cluster publish). */
  readonly awaited: Promise<unknown>[] = [];
  readonly #after: (() => void)[] = [];
  /** Compensations for in-memory changes, run if the commit fails. */
  #undo: (() => void)[] | null = null;
  /** True once actions must wait (mutations exist, or an earlier batch is still committing). */
  deferring: boolean;

  constructor(deferring = false) {
    this.deferring = deferring;
  }

  /** Adds a mutation; everything queued with {@link afterCommit} from now on waits for it. */
  persist(mutation: Mutation): void {
    this.mutations.push(mutation);
    this.deferring = true;
  }

  /** Makes everything queued with {@link afterCommit} from now on also wait for `work`. */
  wait(work: Promise<unknown>): void {
    this.awaited.push(work);
    this.deferring = true;
  }

  /** Runs `action` now if nothing is pending, else once the batch is durable. */
  afterCommit(action: () => void): void {
    if (this.deferring) this.#after.push(action);
    else action();
  }

  /** Registers how to take back an in-memory change of this batch should its commit fail. */
  undo(compensate: () => void): void {
    (this.#undo ??= []).push(compensate);
  }

  /** Makes an empty batch ready to be begun again (see CommitChain.begin). */
  reset(deferring: boolean): void {
    this.#undo = null;
    this.deferring = deferring;
  }

  /** The commit failed: drops the deferred actions and runs the compensations, newest first. */
  rollback(observer: CommitObserver): void {
    this.#after.length = 0;
    const undo = this.#undo;
    this.#undo = null;
    if (undo === null) return;
    for (let i = undo.length - 1; i >= 0; i--) {
      try {
        undo[i]();
      } catch (err) {
        observer.commitFailed(err);
      }
    }
  }

  get empty(): boolean {
    return this.mutations.length === 0 && this.#after.length === 0 && this.awaited.length === 0;
  }

  /** Runs the deferred actions in order; an action that throws does not stop the others. */
  runDeferred(observer: CommitObserver): void {
    for (const action of this.#after) {
      try {
        action();
      } catch (err) {
        observer.commitFailed(err);
      }
    }
    this.#after.length = 0;
    this.#undo = null;
  }
}

/** What submit returns when nothing is pending: one settled promise for every caller. */
const SETTLED: Promise<void> = Promise.resolve();

/**
 * Chains batches of one source (a connection, or the broker's own publishes) so
 * that their deferred actions run in submission order.
 *
 * Most batches (QoS 0, and QoS 1/2 without a durable store) end empty: their actions ran at
 * once. Such a batch is kept and begun again, so that the batch per read of a busy
 * connection allocates nothing (a batch and its three lists were about 200 bytes, each read).
 */
export class CommitChain {
  #tail: Promise<void> | null = null;
  /** An empty batch submitted earlier, begun again by the next begin(). */
  #spare: CommitBatch | null = null;
  readonly #store: Store | undefined;
  readonly #relaxed: boolean;
  readonly #observer: CommitObserver;

  constructor(store: Store | undefined, observer: CommitObserver, options: CommitChainOptions = {}) {
    this.#store = store;
    this.#observer = observer;
    this.#relaxed = options.relaxed ?? false;
  }

  /** A new batch that defers its actions when an earlier one is still pending. */
  begin(): CommitBatch {
    const spare = this.#spare;
    if (spare === null) return new CommitBatch(this.#tail !== null);
    this.#spare = null;
    spare.reset(this.#tail !== null);
    return spare;
  }

  /** True while an earlier batch's actions are still waiting. */
  get pending(): boolean {
    return this.#tail !== null;
  }

  /**
   * Commits the batch's mutations and then runs its deferred actions. Resolves when done.
   * The batch is the chain's again: it must not be used after this call.
   */
  submit(batch: CommitBatch): Promise<void> {
    if (batch.empty) {
      this.#spare = batch;
      return this.#tail ?? SETTLED;
    }
    const store = this.#store;
    const observer = this.#observer;
    let durable: Promise<void>;
    if (batch.mutations.length === 0 || store === undefined) {
      durable = Promise.resolve();
    } else if (this.#relaxed) {
      // Relaxed durability: acknowledge now; the commit follows within the store's window.
      store.commit(batch.mutations).catch((err) => observer.commitFailed(err));
      durable = Promise.resolve();
    } else {
      durable = store.commit(batch.mutations);
      if (observer.commitTook !== undefined) {
        const started = performance.now();
        durable = durable.then(() => observer.commitTook!(performance.now() - started));
      }
    }
    if (batch.awaited.length > 0) {
      // A cluster publish is part of "durable" even with relaxed store durability: a QoS 1/2
      // acknowledgement promises the message reached the cluster's stream.
      durable = Promise.all([durable, ...batch.awaited]).then(() => {});
    }
    const previous = this.#tail;
    const run = (previous ? Promise.all([previous, durable]) : durable).then(
      () => batch.runDeferred(observer),
      (err) => {
        // The store failed: the dependent acknowledgements are never sent, so the
        // publisher will retransmit; what the batch did in memory is taken back.
        // Report it; the broker decides whether to go on.
        batch.rollback(observer);
        observer.commitFailed(err);
      },
    );
    const tail = run.then(() => {
      if (this.#tail === tail) this.#tail = null;
    });
    this.#tail = tail;
    return tail;
  }
}
