// `outer-node lend ...`: train, evaluate and use the scorecard; take applications. Thin: parse flags,
// call the library, print (style.md rule 10).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { action, cliLogger } from '../../shared/cli-support.js';
import { writeFileAtomicSync } from '../../shared/atomic-file.js';
import { ConsentSchema, type Portrait } from '../../shared/portrait.js';
import { readCsvFile, writeCsvFile, columnIndex } from './csv.js';
import { LendingStore } from './decisions-store.js';
import type { DecisionRecord } from './decision.js';
import { LendingError } from './errors.js';
import { generateLoanHistory } from './history.js';
import { auc, calibrationTable, gini, ks, psi, scoreBands } from './metrics.js';
import { loadPolicy } from './policy.js';
import { loadModel, pointShortfalls, readLabels, scoreTable, trainScorecard } from './scorecard.js';

const list = (text: string | undefined): string[] =>
  text
    ? text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
const collect = (value: string, previous: string[]): string[] => [...previous, ...list(value)];
const num = (name: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new LendingError('LEND_DATA', `--${name} is not a number: ${text}`);
  return n;
};
const say = (text: string): void => void process.stdout.write(`${text}\n`);
const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

/** Prints a decision for people: outcome, score, line, rate, reasons and points. */
export function formatDecision(r: DecisionRecord): string {
  const lines = [
    `application ${r.applicationId}: ${r.decision.toUpperCase()}`,
    `  score ${r.score ?? '-'} (probability of default ${r.probability ?? '-'}, grade ${r.grade ?? '-'})`,
  ];
  if (r.decision === 'approve') {
    lines.push(
      `  credit line ${r.lineYuan.toLocaleString('en-US')} yuan of ${r.requestedYuan.toLocaleString('en-US')} requested, annual rate ${r.ratePercent}%`,
    );
  }
  for (const reason of r.reasons) {
    lines.push(
      `  reason ${reason.code}: ${reason.text}${reason.shortfall !== undefined ? ` (${reason.shortfall} points below the best)` : ''}`,
    );
  }
  if (r.points.length > 0) {
    lines.push('  points per characteristic:');
    for (const p of r.points)
      lines.push(
        `    ${p.name.padEnd(24)} ${String(p.points).padStart(4)} of ${String(p.maxPoints).padStart(4)}  (${p.bin})`,
      );
  }
  lines.push(`  model ${r.modelVersion}, policy ${r.policyVersion}, portrait ${r.portraitDigest ?? 'none'}`);
  return lines.join('\n');
}

export function registerLendCommands(program: Command): void {
  const lend = program
    .command('lend')
    .description('lending: train and evaluate the scorecard, score files, take applications and decide');

  lend
    .command('train')
    .description(
      'train a scorecard: monotone WoE bins, IV filter, logistic regression, sign check, PDO scaling',
    )
    .requiredOption('--data <file.csv>', 'training data: one row per past loan, a header line, UTF-8')
    .requiredOption('--label <column>', 'the outcome column')
    .option('--bad-value <value>', 'the label value that means default', '1')
    .option('--out <model.json>', 'where to write the model', 'model.json')
    .option('--name <name>', 'model name', 'scorecard')
    .option('--exclude <columns>', 'columns that are not characteristics (comma-separated)', collect, [])
    .option('--categorical <columns>', 'numeric-looking columns to treat as categories', collect, [])
    .option(
      '--protected <columns>',
      'protected attributes beyond gender, sex, ethnicity, marital_status',
      collect,
      [],
    )
    .option(
      '--allow-protected <column>',
      'use a protected attribute anyway (warned about and recorded in the model)',
      collect,
      [],
    )
    .option('--min-iv <iv>', 'drop characteristics with a lower information value', '0.02')
    .option('--max-bins <n>', 'at most this many bins per characteristic', '8')
    .option('--min-bin-share <share>', 'every bin holds at least this share of rows', '0.05')
    .option('--base-score <points>', 'score at the base odds', '600')
    .option('--base-odds <odds>', 'good:bad odds at the base score', '50')
    .option('--pdo <points>', 'points to double the odds', '20')
    .option('--portfolio-bad-rate <rate>', 're-centre the intercept to this bad rate (e.g. 0.04)')
    .action(
      action(
        (opts: {
          data: string;
          label: string;
          badValue: string;
          out: string;
          name: string;
          exclude: string[];
          categorical: string[];
          protected: string[];
          allowProtected: string[];
          minIv: string;
          maxBins: string;
          minBinShare: string;
          baseScore: string;
          baseOdds: string;
          pdo: string;
          portfolioBadRate?: string;
        }) => {
          const logger = cliLogger('outer-node');
          const table = readCsvFile(opts.data);
          const portfolio = num('portfolio-bad-rate', opts.portfolioBadRate);
          const model = trainScorecard(table, {
            label: opts.label,
            badValue: opts.badValue,
            name: opts.name,
            exclude: opts.exclude,
            categorical: opts.categorical,
            protectedAttributes: opts.protected,
            allowProtected: opts.allowProtected,
            minIv: num('min-iv', opts.minIv)!,
            binning: {
              maxBins: num('max-bins', opts.maxBins)!,
              minBinShare: num('min-bin-share', opts.minBinShare)!,
            },
            scaling: {
              baseScore: num('base-score', opts.baseScore)!,
              baseOdds: num('base-odds', opts.baseOdds)!,
              pdo: num('pdo', opts.pdo)!,
            },
            ...(portfolio !== undefined ? { portfolioBadRate: portfolio } : {}),
            warn: (message) => {
              logger.warn({ event: 'protected-attribute-override' }, message);
              process.stderr.write(`warning: ${message}\n`);
            },
          });
          writeFileAtomicSync(opts.out, `${JSON.stringify(model, null, 2)}\n`);
          say(`model ${model.version} written to ${opts.out}`);
          say(
            `  trained on ${model.training.rows} rows, bad rate ${pct(model.training.badRate)}; training AUC ${model.training.auc.toFixed(4)}, KS ${model.training.ks.toFixed(4)}, Gini ${model.training.gini.toFixed(4)}`,
          );
          for (const c of model.characteristics) {
            say(
              `  ${c.name.padEnd(24)} IV ${c.iv.toFixed(3)}  coefficient ${c.coefficient.toFixed(3)}  ${c.bins.length} bins  points ${Math.min(...c.bins.map((b) => b.points))}..${c.maxPoints}`,
            );
          }
          for (const e of model.excluded) say(`  left out ${e.name}: ${e.reason}`);
          for (const n of model.notes) say(`  note: ${n}`);
        },
      ),
    );

  lend
    .command('evaluate')
    .description('AUC, KS, Gini, calibration and score bands on a labelled file; PSI against a second file')
    .requiredOption('--model <model.json>', 'a trained model')
    .requiredOption('--data <file.csv>', 'labelled data to evaluate on')
    .option('--label <column>', 'the outcome column (default: the one the model was trained on)')
    .option('--compare <file.csv>', 'a second (recent) file: population stability of scores against --data')
    .option('--band-width <points>', 'width of the score bands', '20')
    .action(
      action((opts: { model: string; data: string; label?: string; compare?: string; bandWidth: string }) => {
        const model = loadModel(opts.model);
        const table = readCsvFile(opts.data);
        const labels = readLabels(table, opts.label ?? model.label.column, model.label.badValue, opts.data);
        const scored = scoreTable(model, table);
        const risk = scored.map((s) => s.probability);
        const a = auc(risk, labels);
        const k = ks(risk, labels);
        say(
          `model ${model.version} on ${opts.data}: ${labels.length} rows, bad rate ${pct(labels.reduce((s, v) => s + v, 0) / labels.length)}`,
        );
        say(`  AUC ${a.toFixed(4)}  Gini ${gini(a).toFixed(4)}  KS ${k.ks.toFixed(4)}`);
        say('  calibration (deciles of predicted probability): group, rows, predicted, observed');
        for (const r of calibrationTable(risk, labels)) {
          say(
            `    ${String(r.group).padStart(2)}  ${String(r.count).padStart(7)}  ${pct(r.meanPredicted).padStart(7)}  ${pct(r.observedBadRate).padStart(7)}`,
          );
        }
        say('  score bands: from, to, rows, bads, bad rate, cumulative share');
        for (const b of scoreBands(
          scored.map((s) => s.score),
          labels,
          num('band-width', opts.bandWidth),
        )) {
          say(
            `    ${String(b.from).padStart(4)}-${String(b.to).padEnd(4)} ${String(b.count).padStart(7)} ${String(b.bads).padStart(6)}  ${pct(b.badRate).padStart(7)}  ${pct(b.cumulativeShare).padStart(7)}`,
          );
        }
        if (opts.compare) {
          const recent = scoreTable(model, readCsvFile(opts.compare)).map((s) => s.score);
          const p = psi(
            scored.map((s) => s.score),
            recent,
          );
          say(
            `  PSI ${p.psi.toFixed(4)} against ${opts.compare} (${p.psi < 0.1 ? 'stable' : p.psi < 0.25 ? 'some shift' : 'major shift'})`,
          );
        }
      }),
    );

  lend
    .command('score')
    .description('score a file: score, probability, points per characteristic and reason codes per row')
    .requiredOption('--model <model.json>', 'a trained model')
    .requiredOption('--data <file.csv>', 'rows to score')
    .requiredOption('--out <file.csv>', 'where to write the scored rows')
    .option('--id <column>', 'an identifying column to copy to the output')
    .option('--reasons <n>', 'reason codes per row', '4')
    .action(
      action((opts: { model: string; data: string; out: string; id?: string; reasons: string }) => {
        const model = loadModel(opts.model);
        const table = readCsvFile(opts.data);
        const idAt = opts.id ? columnIndex(table, opts.id, opts.data) : -1;
        const scored = scoreTable(model, table);
        const names = model.characteristics.map((c) => c.name);
        const count = num('reasons', opts.reasons)!;
        const rows = scored.map((s, i) => [
          ...(idAt >= 0 ? [table.rows[i]![idAt]!] : []),
          String(s.score),
          s.probability.toFixed(6),
          ...s.points.map((p) => String(p.points)),
          pointShortfalls(s.points, count)
            .map((p) => p.name)
            .join(';'),
        ]);
        writeCsvFile(opts.out, {
          columns: [
            ...(opts.id ? [opts.id] : []),
            'score',
            'probability',
            ...names.map((n) => `points_${n}`),
            'reason_codes',
          ],
          rows,
        });
        say(`scored ${rows.length} rows with ${model.version} into ${opts.out}`);
      }),
    );

  lend
    .command('apply')
    .description('record an application in the bank database; with --model and --policy, decide it now')
    .requiredOption('--db <bank.db>', "the bank's SQLite database (tables lend_applications, lend_decisions)")
    .requiredOption('--id-number <id>', "the applicant's resident ID number")
    .requiredOption('--amount <yuan>', 'amount requested, whole yuan')
    .requiredOption('--consent <consent-id>', "the applicant's consent id")
    .option(
      '--consent-file <consent.json>',
      'record this consent first (consent_id, id_number, bank, purpose, scope, ...)',
    )
    .option('--portrait-file <portrait.json>', 'record this portrait first (as it arrived from the county)')
    .option('--application-id <id>', 'application id (default: generated)')
    .option('--model <model.json>', 'decide now with this model')
    .option('--policy <policy.yaml>', 'decide now with this policy')
    .option('--bank <name>', "this bank's name, as consents name it", 'bank-a')
    .action(
      action(
        (opts: {
          db: string;
          idNumber: string;
          amount: string;
          consent: string;
          consentFile?: string;
          portraitFile?: string;
          applicationId?: string;
          model?: string;
          policy?: string;
          bank: string;
        }) => {
          if (!/^\d+$/.test(opts.amount))
            throw new LendingError('LEND_APPLICATION', `--amount must be whole yuan, got ${opts.amount}`);
          const store = new LendingStore(opts.db);
          try {
            if (opts.consentFile)
              store.recordConsent(ConsentSchema.parse(JSON.parse(readFileSync(opts.consentFile, 'utf8'))));
            if (opts.portraitFile)
              store.putPortrait(JSON.parse(readFileSync(opts.portraitFile, 'utf8')) as Portrait);
            const applicationId =
              opts.applicationId ??
              `A${Date.now().toString(36).toUpperCase()}${process.pid.toString(36).toUpperCase()}`;
            store.submitApplication({
              applicationId,
              idNumber: opts.idNumber,
              amountYuan: Number(opts.amount),
              consentId: opts.consent,
            });
            if (!opts.model || !opts.policy) {
              say(
                `application ${applicationId} recorded; the running outer node will answer it in lend_decisions`,
              );
              return;
            }
            const model = loadModel(opts.model);
            const policy = loadPolicy(opts.policy);
            store.answerPending({ model, policy, bank: opts.bank });
            const record = store.decision(applicationId);
            if (record) say(formatDecision(record));
            else
              say(
                `application ${applicationId}: no fresh portrait; requested over the reverse lane (status ${store.application(applicationId)?.status})`,
              );
          } finally {
            store.close();
          }
        },
      ),
    );

  lend
    .command('history')
    .description(
      'synthetic loan history with a known ground truth, from portraits of a county batch programme',
    )
    .requiredOption(
      '--portraits <file.jsonl>',
      'portraits, one JSON object a line (inner-node portraits batch)',
    )
    .requiredOption('--out <file.csv>', 'where to write the history')
    .option('--seed <n>', 'random seed for the outcomes', '20261122')
    .action(
      action((opts: { portraits: string; out: string; seed: string }) => {
        const portraits = readFileSync(opts.portraits, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as Portrait);
        const table = generateLoanHistory(portraits, { seed: num('seed', opts.seed)! });
        writeCsvFile(opts.out, table);
        const bads = table.rows.filter((r) => r[r.length - 2] === '1').length;
        say(
          `${table.rows.length} loans written to ${opts.out}, ${bads} defaults (${pct(bads / Math.max(1, table.rows.length))})`,
        );
      }),
    );
}
