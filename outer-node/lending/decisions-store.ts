// Applications in, decisions out, in the bank's own SQLite database (design 7: the bank's systems
// reach lending without a port). The bank inserts a row into lend_applications; the running outer
// node answers it in lend_decisions. Consents and the portraits that arrived over the gap are kept
// beside them. When no fresh portrait is present the application waits (status awaiting_portrait)
// and a request is queued in lend_portrait_requests for the reverse lane to carry to the county; it
// is decided when the portrait arrives, or referred once the wait runs out.
import Database from 'better-sqlite3';
import { ConsentSchema, type Consent, type Portrait, type PortraitAnswer } from '../../shared/portrait.js';
import {
  decide,
  portraitDigest,
  portraitIsFresh,
  type Application,
  type DecisionRecord,
} from './decision.js';
import { LendingError } from './errors.js';
import type { Policy } from './policy.js';
import type { ScorecardModel } from './scorecard.js';

export const LENDING_SCHEMA = `
CREATE TABLE IF NOT EXISTS lend_applications (
  application_id TEXT PRIMARY KEY,
  id_number TEXT NOT NULL,
  amount_yuan INTEGER NOT NULL CHECK (amount_yuan > 0),
  consent_id TEXT,
  submitted_at TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'awaiting_portrait', 'decided', 'failed')),
  status_detail TEXT,
  portrait_requested_at TEXT,
  updated_at TEXT
);
CREATE INDEX IF NOT EXISTS lend_applications_status ON lend_applications (status, submitted_at);
CREATE TABLE IF NOT EXISTS lend_decisions (
  application_id TEXT PRIMARY KEY REFERENCES lend_applications (application_id),
  consent_id TEXT,
  portrait_digest TEXT,
  portrait_as_of TEXT,
  model_version TEXT NOT NULL,
  policy_version TEXT NOT NULL,
  decision TEXT NOT NULL CHECK (decision IN ('approve', 'refer', 'decline')),
  score INTEGER,
  probability TEXT,
  grade TEXT,
  requested_yuan INTEGER NOT NULL,
  line_yuan INTEGER NOT NULL,
  rate_basis_points INTEGER,
  rate_percent TEXT,
  points_json TEXT NOT NULL,
  reasons_json TEXT NOT NULL,
  record_json TEXT NOT NULL,
  decided_at TEXT NOT NULL,
  decide_micros INTEGER NOT NULL,
  application_to_decision_ms INTEGER
);
CREATE TABLE IF NOT EXISTS lend_consents (
  consent_id TEXT PRIMARY KEY,
  id_number TEXT NOT NULL,
  consent_json TEXT NOT NULL,
  recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lend_portraits (
  id_number TEXT PRIMARY KEY,
  as_of TEXT NOT NULL,
  digest TEXT NOT NULL,
  portrait_json TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lend_portrait_requests (
  request_id INTEGER PRIMARY KEY AUTOINCREMENT,
  application_id TEXT NOT NULL,
  id_number TEXT NOT NULL,
  consent_id TEXT,
  requested_at TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'answered')),
  sent_at TEXT,
  answered_at TEXT,
  refusal TEXT
);
`;

/** Columns added to lend_portrait_requests after its first release (added in place when missing). */
const REQUEST_COLUMNS = ['sent_at', 'answered_at', 'refusal'] as const;

/** The reverse-lane id of a portrait request (the message's requestId). */
export function portraitRequestId(requestId: number): string {
  return `lpr-${requestId}`;
}

/** A queued (or unanswered) portrait request, ready to be sent over the reverse lane. */
export interface OutgoingPortraitRequest {
  requestId: number;
  applicationId: string;
  idNumber: string;
  consent: Consent | undefined;
}

/** How a portrait request leaves for the county; the reverse lane will provide the real one. */
export interface PortraitRequester {
  request(request: { applicationId: string; idNumber: string; consent: Consent }, now: Date): void;
}

export interface AnswerOptions {
  model: ScorecardModel;
  policy: Policy;
  bank: string;
  now?: () => Date;
  /** Where portrait requests go; default: queued in lend_portrait_requests for the reverse lane. */
  requester?: PortraitRequester;
  /** How long an application waits for a portrait before it is referred (default 10 minutes). */
  portraitWaitMs?: number;
  /** Applications handled per pass at most (default 500). */
  batch?: number;
}

export interface PassResult {
  decided: DecisionRecord[];
  awaiting: number;
  requested: number;
}

interface ApplicationRow {
  application_id: string;
  id_number: string;
  amount_yuan: number;
  consent_id: string | null;
  submitted_at: string;
  status: string;
  portrait_requested_at: string | null;
}

export class LendingStore {
  readonly db: Database.Database;
  private readonly statements;

  constructor(path: string) {
    this.db = new Database(path);
    // As the bank target does: WAL, so readers never block the writer; FULL, so a decision that was
    // reported is never lost (one WAL fsync per commit).
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(LENDING_SCHEMA);
    const db = this.db;
    const have = new Set(
      (db.prepare('PRAGMA table_info(lend_portrait_requests)').all() as { name: string }[]).map(
        (c) => c.name,
      ),
    );
    for (const column of REQUEST_COLUMNS) {
      if (!have.has(column)) db.exec(`ALTER TABLE lend_portrait_requests ADD COLUMN ${column} TEXT`);
    }
    this.statements = {
      insertApplication: db.prepare(
        `INSERT INTO lend_applications (application_id, id_number, amount_yuan, consent_id, submitted_at, status, updated_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?)`,
      ),
      pending: db.prepare(
        `SELECT * FROM lend_applications WHERE status IN ('pending', 'awaiting_portrait') ORDER BY submitted_at, application_id LIMIT ?`,
      ),
      application: db.prepare(`SELECT * FROM lend_applications WHERE application_id = ?`),
      setStatus: db.prepare(
        `UPDATE lend_applications SET status = ?, status_detail = ?, updated_at = ?, portrait_requested_at = COALESCE(?, portrait_requested_at) WHERE application_id = ?`,
      ),
      insertDecision: db.prepare(
        `INSERT INTO lend_decisions (application_id, consent_id, portrait_digest, portrait_as_of, model_version, policy_version,
           decision, score, probability, grade, requested_yuan, line_yuan, rate_basis_points, rate_percent, points_json,
           reasons_json, record_json, decided_at, decide_micros, application_to_decision_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      decision: db.prepare(`SELECT record_json FROM lend_decisions WHERE application_id = ?`),
      putConsent: db.prepare(
        `INSERT INTO lend_consents (consent_id, id_number, consent_json, recorded_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (consent_id) DO UPDATE SET id_number = excluded.id_number, consent_json = excluded.consent_json, recorded_at = excluded.recorded_at`,
      ),
      consent: db.prepare(`SELECT consent_json FROM lend_consents WHERE consent_id = ?`),
      putPortrait: db.prepare(
        `INSERT INTO lend_portraits (id_number, as_of, digest, portrait_json, received_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id_number) DO UPDATE SET as_of = excluded.as_of, digest = excluded.digest,
           portrait_json = excluded.portrait_json, received_at = excluded.received_at
         WHERE excluded.as_of >= lend_portraits.as_of`,
      ),
      portrait: db.prepare(`SELECT portrait_json FROM lend_portraits WHERE id_number = ?`),
      requestsToSend: db.prepare(
        `SELECT r.request_id AS requestId, r.application_id AS applicationId, r.id_number AS idNumber, r.consent_id AS consentId
         FROM lend_portrait_requests r JOIN lend_applications a ON a.application_id = r.application_id
         WHERE a.status = 'awaiting_portrait'
           AND (r.status = 'queued' OR (r.status = 'sent' AND r.sent_at < ?))
         ORDER BY r.request_id LIMIT ?`,
      ),
      markSent: db.prepare(
        `UPDATE lend_portrait_requests SET status = 'sent', sent_at = ? WHERE request_id = ?`,
      ),
      markAnswered: db.prepare(
        `UPDATE lend_portrait_requests SET status = 'answered', answered_at = ?, refusal = ? WHERE request_id = ?`,
      ),
      request: db.prepare(
        `SELECT request_id AS requestId, application_id AS applicationId, id_number AS idNumber, status FROM lend_portrait_requests WHERE request_id = ?`,
      ),
      refusal: db.prepare(
        `SELECT refusal FROM lend_portrait_requests WHERE application_id = ? AND refusal IS NOT NULL ORDER BY request_id DESC LIMIT 1`,
      ),
      queueRequest: db.prepare(
        `INSERT INTO lend_portrait_requests (application_id, id_number, consent_id, requested_at) VALUES (?, ?, ?, ?)`,
      ),
    };
  }

  close(): void {
    this.db.close();
  }

  submitApplication(
    app: { applicationId: string; idNumber: string; amountYuan: number; consentId: string | null },
    now = new Date(),
  ): void {
    if (!Number.isSafeInteger(app.amountYuan) || app.amountYuan <= 0) {
      throw new LendingError(
        'LEND_APPLICATION',
        `amount must be a positive whole number of yuan, got ${app.amountYuan}`,
      );
    }
    try {
      this.statements.insertApplication.run(
        app.applicationId,
        app.idNumber,
        app.amountYuan,
        app.consentId,
        now.toISOString(),
        now.toISOString(),
      );
    } catch (error) {
      throw new LendingError('LEND_APPLICATION', `cannot record application ${app.applicationId}`, {
        hint: 'Application ids must be unique',
        cause: error,
      });
    }
  }

  recordConsent(consent: Consent, now = new Date()): void {
    const checked = ConsentSchema.parse(consent);
    this.statements.putConsent.run(
      checked.consent_id,
      checked.id_number,
      JSON.stringify(checked),
      now.toISOString(),
    );
  }

  consent(consentId: string | null): Consent | undefined {
    if (!consentId) return undefined;
    const row = this.statements.consent.get(consentId) as { consent_json: string } | undefined;
    return row ? ConsentSchema.parse(JSON.parse(row.consent_json)) : undefined;
  }

  /** Stores a portrait that arrived; an older one never replaces a newer one. */
  putPortrait(portrait: Portrait, now = new Date()): void {
    this.statements.putPortrait.run(
      portrait.idNumber,
      portrait.asOf,
      portraitDigest(portrait),
      JSON.stringify(portrait),
      now.toISOString(),
    );
  }

  portrait(idNumber: string): Portrait | undefined {
    const row = this.statements.portrait.get(idNumber) as { portrait_json: string } | undefined;
    return row ? (JSON.parse(row.portrait_json) as Portrait) : undefined;
  }

  decision(applicationId: string): DecisionRecord | undefined {
    const row = this.statements.decision.get(applicationId) as { record_json: string } | undefined;
    return row ? (JSON.parse(row.record_json) as DecisionRecord) : undefined;
  }

  application(applicationId: string): ApplicationRow | undefined {
    return this.statements.application.get(applicationId) as ApplicationRow | undefined;
  }

  /** Writes a decision and marks its application decided, in one transaction. */
  recordDecision(
    record: DecisionRecord,
    timings: { decideMicros: number; applicationToDecisionMs: number | null },
  ): void {
    const s = this.statements;
    this.db.transaction(() => {
      s.insertDecision.run(
        record.applicationId,
        record.consentId,
        record.portraitDigest,
        record.portraitAsOf,
        record.modelVersion,
        record.policyVersion,
        record.decision,
        record.score,
        record.probability,
        record.grade,
        record.requestedYuan,
        record.lineYuan,
        record.rateBasisPoints,
        record.ratePercent,
        JSON.stringify(record.points),
        JSON.stringify(record.reasons),
        JSON.stringify({ ...record, timings }),
        record.decidedAt,
        Math.round(timings.decideMicros),
        timings.applicationToDecisionMs,
      );
      s.setStatus.run('decided', record.decision, record.decidedAt, null, record.applicationId);
    })();
  }

  /**
   * Portrait requests to send now: queued ones, and sent ones still unanswered after `resendAfterMs`
   * (the request or its answer may have been lost on the way) while their application waits.
   */
  requestsToSend(now: Date, resendAfterMs: number, limit = 100): OutgoingPortraitRequest[] {
    const rows = this.statements.requestsToSend.all(
      new Date(now.getTime() - resendAfterMs).toISOString(),
      limit,
    ) as { requestId: number; applicationId: string; idNumber: string; consentId: string | null }[];
    return rows.map((r) => ({
      requestId: r.requestId,
      applicationId: r.applicationId,
      idNumber: r.idNumber,
      consent: this.consent(r.consentId),
    }));
  }

  markRequestSent(requestId: number, now = new Date()): void {
    this.statements.markSent.run(now.toISOString(), requestId);
  }

  /** Closes a request without a portrait (the county refused, or it could not be sent), with why. */
  refuseRequest(requestId: number, reason: string, now = new Date()): void {
    this.statements.markAnswered.run(now.toISOString(), reason, requestId);
  }

  /**
   * Records the county's answer to a portrait request: the portrait (checked to be the requested
   * person's) or the county's reasons. Returns the application it was for, or undefined when no
   * request of this database has that id (an answer meant for another bank database, or very late).
   */
  recordPortraitAnswer(answer: PortraitAnswer, now = new Date()): string | undefined {
    const match = /^lpr-(\d{1,15})$/.exec(answer.requestId);
    if (!match) return undefined;
    const requestId = Number(match[1]);
    const row = this.statements.request.get(requestId) as
      { requestId: number; applicationId: string; idNumber: string; status: string } | undefined;
    if (!row) return undefined;
    if (answer.released && answer.portrait.idNumber !== row.idNumber) {
      throw new LendingError(
        'LEND_PORTRAIT',
        `the portrait answering request ${answer.requestId} is of another person than the one asked for`,
        { hint: 'Nothing was stored; report it to the county data office' },
      );
    }
    this.db.transaction(() => {
      if (answer.released) this.putPortrait(answer.portrait, now);
      this.statements.markAnswered.run(
        now.toISOString(),
        answer.released ? null : answer.problems.join('; '),
        requestId,
      );
    })();
    return row.applicationId;
  }

  /** One pass over pending applications: decide those that can be, request portraits for the rest. */
  answerPending(options: AnswerOptions): PassResult {
    const now = options.now ?? (() => new Date());
    const wait = options.portraitWaitMs ?? 10 * 60_000;
    const requester = options.requester ?? this.tableRequester();
    const rows = this.statements.pending.all(options.batch ?? 500) as ApplicationRow[];
    const result: PassResult = { decided: [], awaiting: 0, requested: 0 };
    for (const row of rows) {
      const t = now();
      const consent = this.consent(row.consent_id);
      const portrait = this.portrait(row.id_number);
      const fresh = portrait !== undefined && portraitIsFresh(portrait, options.policy, t);
      const refusal = fresh
        ? undefined
        : (this.statements.refusal.get(row.application_id) as { refusal: string } | undefined)?.refusal;
      if (!fresh && consent && refusal === undefined) {
        const since = row.portrait_requested_at
          ? t.getTime() - Date.parse(row.portrait_requested_at)
          : undefined;
        if (since === undefined) {
          requester.request({ applicationId: row.application_id, idNumber: row.id_number, consent }, t);
          this.statements.setStatus.run(
            'awaiting_portrait',
            'portrait requested over the reverse lane',
            t.toISOString(),
            t.toISOString(),
            row.application_id,
          );
          result.requested++;
          result.awaiting++;
          continue;
        }
        if (since < wait) {
          result.awaiting++;
          continue;
        }
      }
      // Decide: with a fresh portrait, or (no consent, or the wait ran out) to a referral with reasons.
      const application: Application = {
        applicationId: row.application_id,
        idNumber: row.id_number,
        amountYuan: row.amount_yuan,
        consentId: row.consent_id,
      };
      const started = performance.now();
      const record = decide({
        application,
        portrait,
        consent,
        model: options.model,
        policy: options.policy,
        bank: options.bank,
        now: t,
        ...(refusal !== undefined ? { portraitRefusal: refusal } : {}),
      });
      const decideMicros = (performance.now() - started) * 1000;
      this.recordDecision(record, {
        decideMicros,
        applicationToDecisionMs: t.getTime() - Date.parse(row.submitted_at),
      });
      result.decided.push(record);
    }
    return result;
  }

  /** The default requester: a row in lend_portrait_requests, for the reverse lane to send. */
  tableRequester(): PortraitRequester {
    return {
      request: (r, now) => {
        this.statements.queueRequest.run(
          r.applicationId,
          r.idNumber,
          r.consent.consent_id,
          now.toISOString(),
        );
      },
    };
  }
}

/**
 * Answers applications until stopped: a pass, then a pause of `intervalMs` (the daemon's loop; the
 * composition root passes its stop signal). Returns the number of decisions made.
 */
export async function watchApplications(
  store: LendingStore,
  options: AnswerOptions & { intervalMs?: number },
  stop: { readonly stopped: boolean; wait(ms: number): Promise<void> },
  onPass?: (pass: PassResult) => void,
  afterPass?: (pass: PassResult) => Promise<void>,
): Promise<number> {
  let decided = 0;
  while (!stop.stopped) {
    const pass = store.answerPending(options);
    decided += pass.decided.length;
    onPass?.(pass);
    await afterPass?.(pass);
    if (pass.decided.length === 0 || pass.decided.length < (options.batch ?? 500))
      await stop.wait(options.intervalMs ?? 500);
  }
  return decided;
}
