// MariaDB/MySQL government source. Text is never converted by the server: a GBK or latin1 column
// converted to the connection character set silently turns bytes it cannot map into '?'. The
// connection asks for results in the binary character set, so every text value arrives as the bytes
// stored in the table, and is decoded here strictly with the column's own encoding (or the one the
// source configuration states, for legacy tables that keep GBK bytes in latin1 columns). An invalid
// sequence becomes InvalidText, which the mapping rejects with the bytes in hex.
import mysql from 'mysql2/promise';
import { encodingOfMysqlCharset, strictDecoder, type StrictDecoder } from '../../shared/charset.js';
import { SourceError } from '../../shared/errors.js';
import type { SourceValue } from '../../shared/mapping.js';
import {
  keysetScan,
  keysetSelect,
  keysetWhere,
  type KeysetQuery,
  type ReadRow,
  type ScanQuery,
  type SourceColumn,
  type SourceReader,
  type SqlDialect,
} from './source-reader.js';

const mariadbDialect: SqlDialect = {
  quote: (name) => `\`${name.replace(/`/g, '``')}\``,
  param: () => '?',
  rowValues: false,
};

export interface MariadbSourceOptions {
  url: string;
  password?: string | undefined;
  /** Decode every text column with this encoding instead of the column's declared character set. */
  encoding?: string | undefined;
}

interface TableInfo {
  columns: SourceColumn[];
  decoders: Map<string, StrictDecoder | undefined>;
}

const asText = (value: unknown): string =>
  value instanceof Uint8Array
    ? Buffer.from(value).toString('utf8')
    : typeof value === 'string' || typeof value === 'number'
      ? String(value)
      : '';

export class MariadbSource implements SourceReader {
  readonly description: string;
  private connectionPromise: Promise<mysql.Connection> | undefined;
  private readonly tables = new Map<string, TableInfo>();

  constructor(private readonly options: MariadbSourceOptions) {
    const url = new URL(options.url);
    url.password = '';
    this.description = `MariaDB ${url.host}${url.pathname}`;
  }

  private connection(): Promise<mysql.Connection> {
    this.connectionPromise ??= (async () => {
      try {
        const connection = await mysql.createConnection({
          uri: this.options.url,
          ...(this.options.password ? { password: this.options.password } : {}),
          dateStrings: true,
          supportBigNumbers: true,
          bigNumberStrings: true,
          decimalNumbers: false,
        });
        // Results in the binary character set: stored bytes, no server-side conversion (see above).
        await connection.query('SET character_set_results = binary');
        await connection.query('SET SESSION TRANSACTION READ ONLY');
        connection.on('error', () => {
          this.connectionPromise = undefined;
        });
        return connection;
      } catch (error) {
        this.connectionPromise = undefined;
        throw new SourceError('SOURCE_CONNECT', 'Cannot connect to the MariaDB source', {
          where: this.description,
          hint: 'Check the url, the password and that the server accepts connections from this host',
          cause: error,
        });
      }
    })();
    return this.connectionPromise;
  }

  private async query(sql: string, params: unknown[], table: string): Promise<Record<string, unknown>[]> {
    const connection = await this.connection();
    try {
      const [rows] = await connection.query(sql, params);
      return rows as Record<string, unknown>[];
    } catch (error) {
      throw new SourceError('SOURCE_QUERY', `Cannot read table ${table}`, {
        where: this.description,
        hint: 'Check the table and column names in the dataset mapping, and the grants of the source user',
        cause: error,
      });
    }
  }

  private async tableInfo(table: string): Promise<TableInfo> {
    const known = this.tables.get(table);
    if (known) return known;
    const rows = await this.query(
      `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, CHARACTER_SET_NAME AS charset
         FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
        ORDER BY ORDINAL_POSITION`,
      [table],
      table,
    );
    if (rows.length === 0) {
      throw new SourceError('SOURCE_SCHEMA', `Table ${table} not found in the source`, {
        where: this.description,
        hint: 'Check the table name in the dataset configuration',
      });
    }
    const decoders = new Map<string, StrictDecoder | undefined>();
    const columns: SourceColumn[] = [];
    for (const row of rows) {
      const name = asText(row['name']);
      const charset = row['charset'] === null ? null : asText(row['charset']);
      columns.push({ name, type: `${asText(row['type']).toLowerCase()}${charset ? ` ${charset}` : ''}` });
      const encoding =
        charset === null ? undefined : (this.options.encoding ?? encodingOfMysqlCharset(charset));
      decoders.set(name, encoding ? strictDecoder(encoding) : undefined);
    }
    const info = { columns, decoders };
    this.tables.set(table, info);
    return info;
  }

  async describe(table: string): Promise<SourceColumn[]> {
    this.tables.delete(table);
    return (await this.tableInfo(table)).columns;
  }

  async readAfter(query: KeysetQuery): Promise<ReadRow[]> {
    const info = await this.tableInfo(query.table);
    const { sql, params } = keysetSelect(mariadbDialect, query);
    const rows = await this.query(sql, params, query.table);
    return rows.map((row) => {
      const out: ReadRow = {};
      for (const [name, value] of Object.entries(row)) {
        if (value instanceof Uint8Array) {
          const decoder = info.decoders.get(name);
          // Columns without a character set (BLOB, BINARY) stay bytes; the mapping rejects them as text.
          out[name] = decoder ? decoder.decode(value) : value;
        } else {
          out[name] = value as SourceValue;
        }
      }
      return out;
    });
  }

  scan(query: ScanQuery): AsyncIterable<ReadRow[]> {
    return keysetScan(this, query);
  }

  async count(query: Omit<KeysetQuery, 'limit'>): Promise<number> {
    const { where, params } = keysetWhere(mariadbDialect, query);
    const rows = await this.query(
      `SELECT COUNT(*) AS n FROM ${mariadbDialect.quote(query.table)} ${where}`,
      params,
      query.table,
    );
    return Number(rows[0]?.['n'] ?? 0);
  }

  async close(): Promise<void> {
    const pending = this.connectionPromise;
    this.connectionPromise = undefined;
    if (!pending) return;
    try {
      await (await pending).end();
    } catch {
      // already gone
    }
  }
}
