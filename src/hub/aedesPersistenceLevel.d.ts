// Typings for aedes-persistence-level (the package ships none): the factory that keeps aedes' sessions in a Level DB.
declare module 'aedes-persistence-level' {
  import type { AbstractLevel } from 'abstract-level';

  /** An aedes persistence (subscriptions, outgoing queues, wills) kept in `db`. */
  function aedesPersistenceLevel(db: AbstractLevel<string | Buffer | Uint8Array, string, unknown>): unknown;
  export = aedesPersistenceLevel;
}
