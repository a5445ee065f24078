/** A small typed layer over Durable Object SQLite: failures carry the statement that failed. */

export type SqlValue = string | number | null | ArrayBuffer;
export type Row = Record<string, SqlValue>;

export class SqlError extends Error {
  constructor(query: string, cause: unknown) {
    super(`SQL failed: ${query.replace(/\s+/g, " ").trim().slice(0, 200)}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "SqlError";
  }
}

/** What this layer needs of `DurableObjectStorage` (structural, so modules that only name types compile outside workerd too). */
export interface SqlStorageLike {
  sql: { exec<T extends Row>(query: string, ...params: SqlValue[]): { toArray(): T[] } };
  transactionSync<T>(fn: () => T): T;
}

export class Sql {
  constructor(private readonly storage: SqlStorageLike) {}

  /** Runs a statement and returns all rows. */
  all<T extends Row = Row>(query: string, ...params: SqlValue[]): T[] {
    try {
      return this.storage.sql.exec<T>(query, ...params).toArray();
    } catch (error) {
      throw new SqlError(query, error);
    }
  }

  /** The first row, or null. */
  first<T extends Row = Row>(query: string, ...params: SqlValue[]): T | null {
    return this.all<T>(query, ...params)[0] ?? null;
  }

  run(query: string, ...params: SqlValue[]): void {
    this.all(query, ...params);
  }

  /** Runs `fn` in one transaction: all of its writes land, or none. */
  transaction<T>(fn: () => T): T {
    return this.storage.transactionSync(fn);
  }
}

/** A promise chain that runs async critical sections one at a time inside one object. */
export class Serializer {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
