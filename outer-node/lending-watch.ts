// Lending inside `outer-node run` (design 7: the bank's systems reach lending without a port): when
// lending.model and lending.policy are configured and lending.watch is on, the daemon answers rows
// inserted into lend_applications with decisions in lend_decisions, alongside the import loop and
// under the same stop signal. Model and policy are loaded at start-up, so a broken one stops the
// daemon before it runs half-configured (style.md rule 9).
import { parseDuration } from '../shared/config-loader.js';
import { describeError, errorCode } from '../shared/errors.js';
import { lendingDatabase } from './config.js';
import type { OuterContext } from './context.js';
import type { Stopper } from './daemon.js';
import type { DecisionRecord } from './lending/decision.js';
import { featuresNeeded } from './lending/decision.js';
import { LendingStore, portraitRequestId, watchApplications } from './lending/decisions-store.js';
import { loadPolicy } from './lending/policy.js';
import { loadModel, type ScorecardModel } from './lending/scorecard.js';
import { sendReverseMessage } from './reverse-outbox.js';

export interface LendingWatch {
  /** Resolves once the watcher has stopped (after the stop signal), with the decisions it made. */
  done: Promise<number>;
  store: LendingStore;
}

/**
 * Starts the applications watcher, or returns undefined when lending is not configured or not watched.
 * `onDecision` is told about every decision after it was committed (the audit log, the log).
 */
export function startLendingWatch(
  ctx: OuterContext,
  stop: Stopper,
  onDecision?: (record: DecisionRecord, idNumber: string | undefined) => void,
): LendingWatch | undefined {
  const lending = ctx.settings.config.lending;
  if (!lending.watch || lending.model === undefined || lending.policy === undefined) return undefined;
  const dbPath = lendingDatabase(ctx.settings);
  if (dbPath === undefined) return undefined; // refused by the configuration schema already
  const model = loadModel(ctx.settings.resolve(lending.model));
  const policy = loadPolicy(ctx.settings.resolve(lending.policy));
  const store = new LendingStore(dbPath);
  const intervalMs = parseDuration(lending.interval) ?? 1000;
  const options = {
    model,
    policy,
    bank: ctx.settings.config.node.name,
    intervalMs,
    portraitWaitMs: parseDuration(lending.portrait_wait) ?? 600_000,
  };
  ctx.logger.info(
    { model: model.version, policy: `${policy.name}@${policy.version}`, db: dbPath },
    'answering loan applications',
  );
  // An unanswered request is sent again after this long (the request or its answer may be lost).
  const resendAfterMs = parseDuration(ctx.settings.config.import.resend_after) ?? 30_000;
  const run = async (): Promise<number> => {
    let decided = 0;
    try {
      while (!stop.stopped) {
        try {
          decided += await watchApplications(
            store,
            options,
            stop,
            (pass) => {
              for (const record of pass.decided) {
                // Never the resident ID number: the application id leads to it for those allowed.
                ctx.logger.info(
                  {
                    applicationId: record.applicationId,
                    decision: record.decision,
                    score: record.score,
                    grade: record.grade,
                  },
                  'application decided',
                );
                onDecision?.(record, store.application(record.applicationId)?.id_number);
              }
            },
            async () => {
              await sendPortraitRequests(ctx, store, model, resendAfterMs);
            },
          );
        } catch (error) {
          // A locked or unavailable database: the applications wait; the imports carry on.
          ctx.logger.error({ err: describeError(error) }, 'answering applications failed; trying again');
          await stop.wait(Math.max(intervalMs, 1000) * 5);
        }
      }
    } finally {
      store.close();
    }
    return decided;
  };
  return { done: run(), store };
}

/**
 * Sends the queued portrait requests over the reverse lane (issue 7), each with the person's consent
 * and only the features the model and the policy read. A request that cannot be sent for a reason
 * that will not pass (no verified consent) is closed with that reason, so the application is referred
 * now rather than after the wait; one that fails for a passing reason (no certificate yet, disk full)
 * stays queued and is tried again after the next pass.
 */
export async function sendPortraitRequests(
  ctx: OuterContext,
  store: LendingStore,
  model: ScorecardModel,
  resendAfterMs: number,
  now: Date = new Date(),
): Promise<number> {
  let sent = 0;
  for (const request of store.requestsToSend(now, resendAfterMs)) {
    const consent = request.consent;
    if (!consent?.verified_by) {
      store.refuseRequest(
        request.requestId,
        consent
          ? 'CONSENT_NOT_VERIFIED: the consent was not verified; no request sent'
          : 'CONSENT_MISSING: no consent on record',
        now,
      );
      continue;
    }
    const requestId = portraitRequestId(request.requestId);
    try {
      await sendReverseMessage(
        ctx,
        {
          kind: 'portrait-request',
          requestId,
          consent: {
            consentId: consent.consent_id,
            idNumber: request.idNumber,
            purpose: consent.purpose,
            scope: consent.scope,
            grantedAt: consent.granted_at,
            expiresAt: consent.expires_at,
            verifiedBy: consent.verified_by,
          },
          features: featuresNeeded(model),
        },
        now,
      );
      store.markRequestSent(request.requestId, now);
      sent++;
      ctx.logger.info(
        { requestId, applicationId: request.applicationId, consentId: consent.consent_id },
        'portrait requested over the reverse lane',
      );
    } catch (error) {
      if (errorCode(error) === 'REVERSE_REFUSED') {
        // The message itself is wrong (a consent field the county would refuse): it never will pass.
        store.refuseRequest(request.requestId, describeError(error), now);
      }
      ctx.logger.warn(
        { requestId, applicationId: request.applicationId, err: describeError(error) },
        'cannot send a portrait request; the application waits',
      );
    }
  }
  return sent;
}
