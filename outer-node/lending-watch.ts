// Lending inside `outer-node run` (design 7: the bank's systems reach lending without a port): when
// lending.model and lending.policy are configured and lending.watch is on, the daemon answers rows
// inserted into lend_applications with decisions in lend_decisions, alongside the import loop and
// under the same stop signal. Model and policy are loaded at start-up, so a broken one stops the
// daemon before it runs half-configured (style.md rule 9).
import { parseDuration } from '../shared/config-loader.js';
import { describeError } from '../shared/errors.js';
import { lendingDatabase } from './config.js';
import type { OuterContext } from './context.js';
import type { Stopper } from './daemon.js';
import type { DecisionRecord } from './lending/decision.js';
import { LendingStore, watchApplications } from './lending/decisions-store.js';
import { loadPolicy } from './lending/policy.js';
import { loadModel } from './lending/scorecard.js';

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
  const run = async (): Promise<number> => {
    let decided = 0;
    try {
      while (!stop.stopped) {
        try {
          decided += await watchApplications(store, options, stop, (pass) => {
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
          });
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
